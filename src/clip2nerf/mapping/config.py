"""Configuration of a feature mapping network (clip2nerf or nerf2clip) and its training.

The config is the model's identity card: it records which VLM and which nf2vec model the
mapper connects, so that :meth:`MapperConfig.check_compatible` can refuse a mapper used with
embeddings from another model. It is saved as ``config.json`` beside ``model.safetensors``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from clip2nerf.errors import UserError
from clip2nerf.utils import bounds
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import parse, schema

Direction = Literal["clip2nerf", "nerf2clip"]
ViewSource = Literal["gt", "rendered"]

NF2VEC_DIM = 1024
"""Size of an nf2vec NeRF embedding."""

HIDDEN_DIM = 768
"""The paper's hidden width for both mapping networks (§3.2)."""

PAPER_DEFAULTS: dict[str, dict[str, float]] = {
    "clip2nerf": {"epochs": 150, "lr": 1e-5},
    "nerf2clip": {"epochs": 100, "lr": 1e-3},
}
"""Epochs and peak learning rate of the paper (§4, "Training details")."""

WIDTH = Bound(int, 1, 16384)
"""An embedding size or layer width read from a file (a huge one would exhaust memory)."""


@schema
@dataclass
class TrainConfig:
    """How a mapper is (or was) trained: the paper's recipe, with its defaults."""

    epochs: bounds.EPOCHS.field = 150
    """Passes over the training pairs (paper: 150 clip2nerf, 100 nerf2clip)."""
    lr: bounds.LR.field = 1e-5
    """Peak learning rate of the one-cycle schedule (paper: 1e-5 clip2nerf, 1e-3 nerf2clip)."""
    weight_decay: bounds.WEIGHT_DECAY.field = 1e-2
    """AdamW weight decay (paper: 1e-2)."""
    batch_size: bounds.BATCH_SIZE.field = 64
    """Pairs per optimisation step (paper: 64)."""
    seed: bounds.SEED.field = 0
    """Seeds weight init, shuffling and the nerf2clip view subsets: same seed, same model."""
    paper_epochs: bounds.EPOCHS.field = 150
    """The paper's epochs for this direction, kept for the record when ``epochs`` differs."""
    paper_lr: Bound(float, 0.0, 10.0).field = 1e-5
    """The paper's learning rate for this direction, kept for the record."""

    @classmethod
    def paper(cls, direction: Direction, **overrides: Any) -> TrainConfig:
        """The paper's recipe for ``direction``; ``None`` overrides are ignored."""
        base = PAPER_DEFAULTS[direction]
        cfg = cls(epochs=int(base["epochs"]), lr=float(base["lr"]),
                  paper_epochs=int(base["epochs"]), paper_lr=float(base["lr"]))
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, type(getattr(cfg, key))(value))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        # Looser than the CLI's bounds on purpose: a library caller may train beyond them.
        if self.epochs < 1:
            raise UserError(f"--epochs {self.epochs}: must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"--lr {self.lr}: must be a finite number > 0")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be at least 1")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise UserError(f"--weight-decay {self.weight_decay}: must be >= 0")


@schema
@dataclass
class MapperConfig:
    """One feature mapping network: ``in_dim -> hidden_dim -> out_dim`` with GELU."""

    direction: Direction
    """``clip2nerf`` maps VLM embeddings to nf2vec; ``nerf2clip`` the other way."""
    vlm_space: str
    """Space name of the VLM embeddings, e.g. ``vlm:offline-lit-minilm-v1``."""
    vlm_dim: WIDTH.field
    """Size of a VLM embedding (512 for CLIP ViT-B/32)."""
    nf2vec_space: str
    """Space name of the nf2vec embeddings, e.g. ``nf2vec:cpu-small@<hash>``."""
    nf2vec_dim: WIDTH.field = NF2VEC_DIM
    """Size of an nf2vec embedding."""
    hidden_dim: WIDTH.field = HIDDEN_DIM
    """Width of the single hidden layer (when ``hidden_dims`` is None)."""
    hidden_dims: list[WIDTH.field] | None = None
    """Widths of several hidden layers (Linear + GELU each), overriding ``hidden_dim``. The
    reference clip2nerf code uses ``[512, 768, 1024]`` for both directions."""
    input_scale: bounds.INPUT_SCALE.field = 1.0
    """Inputs are multiplied by this before the first layer. Our embeddings are unit vectors;
    the reference mappers were trained on unnormalised CLIP features / nf2vec outputs."""
    normalize_output: bool = True
    """``map`` returns unit vectors; ``False`` keeps the network's raw outputs (the reference
    clip2nerf's outputs feed nf2vec's decoder, which takes raw embeddings)."""
    views_source: ViewSource = "gt"
    """Views the VLM embeddings were computed from: ground-truth images or NeRF renders."""
    n_views: bounds.VIEWS.field | None = None
    """nerf2clip only: views per object averaged into the target (``None`` = all of them)."""
    multimodal: bool = False
    """clip2nerf only: also trained on caption (text) embeddings (paper Table 5)."""
    extra_views: str | None = None
    """clip2nerf only: what the extra training views were (e.g. ``photo:<dataset name>, 364
    images of 52 objects``), ``None`` without any."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The training recipe that produced (or will produce) the weights."""
    train_ids_sha1: str = ""
    """Fingerprint of the training object ids, so a resumed run cannot switch data silently."""

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        if self.direction not in ("clip2nerf", "nerf2clip"):
            raise UserError(f"direction {self.direction!r}: expected clip2nerf or nerf2clip")
        if self.views_source not in ("gt", "rendered"):
            raise UserError(f"views source {self.views_source!r}: expected gt or rendered")
        if self.multimodal and self.direction != "clip2nerf":
            raise UserError("multimodal training applies to clip2nerf only")
        if self.extra_views is not None and self.direction != "clip2nerf":
            raise UserError("extra training views apply to clip2nerf only")
        if self.n_views is not None and self.direction != "nerf2clip":
            raise UserError("--views n applies to nerf2clip only (clip2nerf maps every view)")
        if self.hidden_dims is not None:
            self.hidden_dims = [int(w) for w in self.hidden_dims]
            if not self.hidden_dims:
                raise UserError("hidden_dims []: give at least one width (or None)")
            for w in self.hidden_dims:
                WIDTH.check(w, "hidden_dims")
        bounds.INPUT_SCALE.check(self.input_scale, "input_scale")
        if self.n_views is not None:
            bounds.VIEWS.check(self.n_views, "--views")

    @property
    def in_dim(self) -> int:
        return self.vlm_dim if self.direction == "clip2nerf" else self.nf2vec_dim

    @property
    def out_dim(self) -> int:
        return self.nf2vec_dim if self.direction == "clip2nerf" else self.vlm_dim

    @property
    def in_space(self) -> str:
        return self.vlm_space if self.direction == "clip2nerf" else self.nf2vec_space

    @property
    def out_space(self) -> str:
        return self.nf2vec_space if self.direction == "clip2nerf" else self.vlm_space

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MapperConfig:
        """The schema of a mapper's ``config.json``: types, ranges, no unknown keys
        (``ValueError`` naming the field, ``clip2nerf.utils.validate.parse``)."""
        return parse(cls, data, "mapper config")

    def check_compatible(self, *, vlm_space: str | None = None, vlm_dim: int | None = None,
                         nf2vec_space: str | None = None, nf2vec_dim: int | None = None,
                         what: str = "mapper") -> None:
        """Refuse embeddings from another model than the one this mapper was trained with."""
        problems = []
        if vlm_space is not None and vlm_space != self.vlm_space:
            problems.append(f"VLM {vlm_space!r} but it was trained with {self.vlm_space!r}")
        if vlm_dim is not None and vlm_dim != self.vlm_dim:
            problems.append(f"VLM embeddings of size {vlm_dim} but it expects {self.vlm_dim}")
        if nf2vec_space is not None and nf2vec_space != self.nf2vec_space:
            problems.append(f"nf2vec model {nf2vec_space!r} but it was trained with "
                            f"{self.nf2vec_space!r}")
        if nf2vec_dim is not None and nf2vec_dim != self.nf2vec_dim:
            problems.append(f"nf2vec embeddings of size {nf2vec_dim} but it expects "
                            f"{self.nf2vec_dim}")
        if problems:
            raise UserError(f"{what} ({self.direction}) used with " + "; ".join(problems)
                            + ". Use a mapper trained for these models, or train one with "
                              "`clip2nerf map train`.")
