"""The real CLIP backend: Hugging Face ``transformers`` CLIPModel from a hub id or a local folder.

Built against transformers 5.x (pinned ``>=5,<6`` in pyproject). Facts this module relies on,
measured with 5.x:

- ``get_image_features`` / ``get_text_features`` return an output object whose
  ``pooler_output`` holds the projected features (4.x returned the tensor itself; both work).
- The slow, Pillow-only image processor is ``CLIPImageProcessorPil`` (the default "fast" one
  needs torchvision, which this project does not install).
- ``CLIPTokenizer.from_pretrained`` on an unreachable hub id does not raise: after minutes of
  retries it returns a tokenizer with a vocabulary of 2. So we first try the local cache, then
  probe the hub endpoint with a short timeout, and check the vocabulary size afterwards.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.preprocess import ImageLike, to_rgb_array

if TYPE_CHECKING:
    import torch

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
"""The paper's CLIP ViT-B/32."""

MIN_VOCAB = 1000
"""A real CLIP BPE vocabulary has 49408 entries; a broken offline load yields 2."""

_HOW_TO_FIX = ("pass --vlm a local folder of a downloaded model (config.json, model.safetensors, "
               "tokenizer and preprocessor files, e.g. made with save_pretrained), or connect to "
               "the hub, or use --vlm offline")


@dataclass
class CLIPBackendConfig:
    """How to load and run the transformers CLIP backend."""

    model: str = DEFAULT_CLIP
    """A Hugging Face hub id or a local folder holding a saved CLIPModel."""
    batch_size: int = 64
    """Images / texts per forward pass."""
    probe_timeout_s: float = 3.0
    """How long to wait for the hub endpoint before declaring it unreachable."""


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """True when the user asked transformers/huggingface_hub not to touch the network."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Can we open a TCP connection to the hub endpoint (``HF_ENDPOINT`` or huggingface.co)?"""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _load_parts(source: str, local_only: bool):
    """(model, tokenizer, image processor) via from_pretrained; OSError when files are missing."""
    from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(source, local_files_only=local_only)
    processor = CLIPImageProcessorPil.from_pretrained(source, local_files_only=local_only)
    model = CLIPModel.from_pretrained(source, local_files_only=local_only)
    return model, tokenizer, processor


def load_clip_parts(spec: str, probe_timeout_s: float = 3.0):
    """Load (CLIPModel, CLIPTokenizer, CLIPImageProcessorPil) without ever hanging on the network.

    Order: a local folder; else the local hub cache; else, unless ``HF_HUB_OFFLINE`` is set and
    the endpoint answers within ``probe_timeout_s``, a download. Every failure is a UserError
    that says what to do.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"--vlm {spec}: folder has no config.json; expected a saved CLIP model "
                            "(save_pretrained output)")
        try:
            parts = _load_parts(str(path), local_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"--vlm {spec}: cannot load a CLIP model from this folder ({exc}); "
                            "it needs config.json, the weights, the tokenizer files and "
                            "preprocessor_config.json") from None
    else:
        # A hub id is "name" or "org/name"; anything path-like that is not a folder is a typo.
        if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
            raise UserError(f"--vlm {spec}: no such folder")
        try:
            parts = _load_parts(spec, local_only=True)  # cache hit: no network at all
        except (OSError, ValueError):
            if hub_offline():
                raise UserError(f"--vlm {spec}: not in the local Hugging Face cache and "
                                f"HF_HUB_OFFLINE is set; {_HOW_TO_FIX}") from None
            if not hub_reachable(probe_timeout_s):
                raise UserError(f"--vlm {spec}: the model hub is unreachable and the model is not "
                                f"cached; {_HOW_TO_FIX}") from None
            try:
                parts = _load_parts(spec, local_only=False)
            except (OSError, ValueError) as exc:
                raise UserError(f"--vlm {spec}: download failed ({exc}); {_HOW_TO_FIX}") from None
    check_tokenizer(parts[1], spec)
    return parts


def check_tokenizer(tokenizer, spec: str) -> None:
    """Refuse the broken tokenizer transformers returns when vocab files could not be fetched."""
    n = len(tokenizer)
    if n < MIN_VOCAB:
        raise UserError(f"--vlm {spec}: the CLIP tokenizer has a vocabulary of {n} tokens (a real "
                        f"one has 49408): its vocabulary files were not found; {_HOW_TO_FIX}")


def _features(out) -> torch.Tensor:
    """transformers 5.x returns an output object (features in ``pooler_output``), 4.x a tensor."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


def weights_fingerprint(model) -> str:
    """8 hex digits identifying the weights (hash of both projections and the logit scale).

    A hub download and a local copy of the same model get the same fingerprint, so their
    embeddings share a space name; different weights with the same config do not.
    """
    h = hashlib.sha256()
    for key in ("visual_projection.weight", "text_projection.weight", "logit_scale"):
        t = model.state_dict()[key].detach().to("cpu", dtype=model.dtype).contiguous()
        h.update(key.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:8]


class CLIPVisionLanguageModel(VisionLanguageModel):
    """CLIP (any ``CLIPModel`` checkpoint) behind the VisionLanguageModel interface.

    ``name`` = ``clip-vit<width>-p<patch>-d<dim>@<fingerprint>``, e.g.
    ``clip-vit768-p32-d512@…`` for ViT-B/32.
    """

    def __init__(self, config: CLIPBackendConfig | None = None, device: str = "auto"):
        import torch

        from clip2nerf.utils.device import resolve_device

        self.config = config or CLIPBackendConfig()
        self.device = resolve_device(device)
        model, self.tokenizer, self.processor = load_clip_parts(self.config.model,
                                                                self.config.probe_timeout_s)
        self.model = model.to(self.device).eval()
        self.model.requires_grad_(False)
        self.batch_size = self.config.batch_size
        cfg = self.model.config
        self.dim = int(cfg.projection_dim)
        vc = cfg.vision_config
        self.name = (f"clip-vit{vc.hidden_size}-p{vc.patch_size}-d{self.dim}"
                     f"@{weights_fingerprint(self.model)}")
        self.max_text_len = int(cfg.text_config.max_position_embeddings)
        self._torch = torch

    def _embed_image_batch(self, images: list[ImageLike]) -> np.ndarray:
        rgb = [to_rgb_array(img, f"image {i}") for i, img in enumerate(images)]
        pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"]
        with self._torch.inference_mode():
            feats = _features(self.model.get_image_features(pixel_values=pixels.to(self.device)))
        return feats.float().cpu().numpy()

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_text_len,
                             return_tensors="pt")
        with self._torch.inference_mode():
            feats = _features(self.model.get_text_features(
                input_ids=tok["input_ids"].to(self.device),
                attention_mask=tok["attention_mask"].to(self.device)))
        return feats.float().cpu().numpy()
