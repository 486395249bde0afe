"""Configs of the nf2vec model and its training, and the named presets (``presets/*.json``).

A preset file holds ``{"model": {...}, "train": {...}}``; ``load_preset(name)`` returns both
configs. ``released`` has the sizes of the released nf2vec code (decoder hidden 1024);
``cpu`` is a small model that trains in minutes on two CPU cores; it also turns on three encoder
options measured to help on small NeRF collections or on CPU (``EncoderConfig.row_positions``,
``skip_zero_rows`` and ``project_after_max``). ``cpu-color`` adds three options that make
decoded views keep the object's colour (``EncoderConfig.output_layer_path``,
``DecoderConfig.color_head``, ``TrainConfig.rgb_weight`` 20); on the 78-NeRF ``small`` demo it
labelled fewer held-out NeRFs right than ``cpu`` (69% vs 88%), so ``cpu`` stays the default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import Field

from clip2nerf.errors import UserError
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.utils import bounds
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import parse, schema

CONFIG_FORMAT = "clip2nerf-nf2vec"
CONFIG_VERSION = 1


# Bounds checked when a config is read from a file: a huge layer would exhaust memory.
WIDTH = Bound(int, 1, 16384)
LAYERS = Bound(int, 1, 64)
VERSION = Bound(int, 0)
FRACTION = Bound(float, 0.0, 1.0)
LOSS_WEIGHT = Bound(float, 0.0, 1e6)


@schema
@dataclass(frozen=True)
class EncoderConfig:
    """Meta-encoder: point-wise (per weight-matrix row) MLP, then a max over rows."""

    widths: Annotated[tuple[WIDTH.field, ...], Field(min_length=1, max_length=32)] = (512, 512, 1024, 1024)
    """Widths of the Linear + BatchNorm1d + ReLU layers applied to each row."""
    embed_dim: WIDTH.field = 1024
    """Size of the embedding (the final Linear, before the max over rows)."""
    row_positions: bool = False
    """Add a learned vector per row position after the first layer, so the encoder knows which
    layer and unit a row comes from. nf2vec's max over rows is otherwise blind to row order: a
    row moved from one layer to another gives the same embedding. NeRFs fitted from one shared
    initialisation keep their units aligned, which this lets the encoder use."""
    skip_zero_rows: bool = False
    """Leave all-zero rows (layout padding, input weights of frequencies a NeRF never trained)
    out of the max; otherwise they add the same vector to every NeRF."""
    project_after_max: bool = False
    """Take the max over rows of the last hidden layer and project that one vector to
    ``embed_dim``, instead of projecting every row and then taking the max (nf2vec). The final
    Linear is the encoder's largest layer; this runs it once per NeRF instead of once per row."""
    input_layout: Literal["units", "tcnn"] = "units"
    """Rows the encoder reads: ``units``, clip2nerf's layout (``clip2nerf.nf2vec.layout``), or
    ``tcnn``, the released nf2vec code's (tiny-cuda-nn's flat row-major weights cut into rows
    of 64, ``layout.tcnn_matrix``); the reference checkpoint needs ``tcnn``."""
    unit_output: bool = True
    """``embed`` returns L2-normalised, centred embeddings; ``False``: the encoder's raw
    outputs, as nf2vec exports them (the reference mapping networks were trained on those)."""
    output_layer_path: bool = False
    """Also add a Linear of the NeRF's whole output layer (its ``out_dim x hidden`` weights, the
    colour and density heads) to the embedding, unpooled. The max over rows keeps little of a
    NeRF's colour, which those few weights determine almost linearly."""


@schema
@dataclass(frozen=True)
class DecoderConfig:
    """Implicit decoder: (embedding ⊕ frequency-encoded xyz) -> MLP with one skip -> rgb, density."""

    hidden: WIDTH.field = 1024
    """Width of every hidden layer."""
    n_layers_before_skip: Bound(int, 0, 64).field = 2
    """Hidden layers before the input is concatenated again."""
    n_layers_after_skip: LAYERS.field = 2
    """Hidden layers from the skip on (the first of them takes the skip input)."""
    n_freqs: Bound(int, 1, 32).field = 24
    """Frequencies of the xyz encoding (same scheme as the NeRFs, ``clip2nerf.nerf.encoding``)."""
    skip: Literal["concat", "add"] = "concat"
    """``concat``: the first layer after the skip takes ``[h ⊕ e ⊕ γ(x)]``; ``add``: nf2vec's
    decoder (``models/idecoder.py``), ``h + ReLU(Linear(e ⊕ γ(x)))``, then
    ``n_layers_after_skip`` more layers. In both, ``n_layers_before_skip`` counts the input layer
    (nf2vec's ``num_hidden_layers_before_skip = 2`` is 3 here)."""
    raw_embeddings: bool = False
    """Condition on embeddings as given (nf2vec's decoder takes the encoder's raw outputs);
    default: unit vectors scaled by ``sqrt(embed_dim)``, uncentred (see ``decoder``)."""
    color_head: bool = False
    """Predict colour with its own layer (``hidden // 2`` wide) that takes the last hidden layer
    and the embedding again, as a NeRF's colour branch does; density keeps the main output."""


@schema
@dataclass(frozen=True)
class Nf2vecConfig:
    """The whole model: which NeRFs it reads, its encoder and its decoder."""

    name: str = "released"
    """Short model name; part of the embedding space name ``nf2vec:<name>@<hash>``."""
    nerf: NerfConfig = field(default_factory=NerfConfig)
    """Architecture of the NeRFs the encoder reads and the decoder imitates (box, activations)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    decoder_trained: bool = True
    """False for a model whose decoder weights are not trained (an imported reference
    encoder, see ``clip2nerf.interop.checkpoints``): decoding refuses it."""

    def to_dict(self) -> dict[str, Any]:
        d = {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, "name": self.name,
             "nerf": self.nerf.to_dict(), "encoder": dataclasses.asdict(self.encoder),
             "decoder": dataclasses.asdict(self.decoder)}
        if not self.decoder_trained:
            d["decoder_trained"] = False
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Nf2vecConfig:
        """Inverse of ``to_dict``; raises ``ValueError`` on unknown keys (naming them), wrong
        types, out-of-range sizes or a newer version (``clip2nerf.utils.validate.parse``)."""
        if not isinstance(d, dict):
            return parse(cls, d, "nf2vec config")  # the one "must be a JSON object" line
        d = dict(d)
        fmt = d.pop("format", CONFIG_FORMAT)
        version = parse(VERSION.field, d.pop("version", CONFIG_VERSION), "version")
        if fmt != CONFIG_FORMAT:
            raise ValueError(f"not an nf2vec config (format {fmt!r})")
        if version > CONFIG_VERSION:
            raise ValueError(f"nf2vec config version {version} is newer than this clip2nerf "
                             f"({CONFIG_VERSION}); upgrade clip2nerf")
        return parse(cls, d, "nf2vec config")


@schema
@dataclass(frozen=True)
class TrainConfig:
    """End-to-end training of encoder + decoder by distilling each NeRF's field.

    Each step takes ``batch_size`` NeRFs; for each it samples ``n_points`` points, a
    ``occupied_fraction`` share inside voxels of the NeRF's occupancy grid (jittered) and the
    rest uniformly in the box, and asks the decoder to match the NeRF there: colour where the
    NeRF has matter, density everywhere, weighted ``fg_weight`` / ``bg_weight`` by whether the
    NeRF has matter at the point (nf2vec's 0.8 / 0.2). Density is compared as
    ``log(1 + sigma)``; the NeRF's density is 0 outside its occupancy grid.
    """

    loss: Literal["distill", "render"] = "distill"
    """``distill``: match the NeRF's field at sampled points (cheap); ``render``: match the
    NeRF's renders of random rays (nf2vec's loss, ~samples-per-ray times dearer)."""
    epochs: bounds.EPOCHS.field = 40
    """Passes over the training NeRFs."""
    batch_size: bounds.BATCH_SIZE.field = 8
    """NeRFs per optimisation step (BatchNorm statistics are over their rows)."""
    n_points: Bound(int, 1, 1 << 22).field = 2048
    """Points (distill) or rays x samples budget (render: ``n_points // 32`` rays) per NeRF."""
    occupied_fraction: FRACTION.field = 0.5
    """Share of points drawn inside occupied voxels of the NeRF's grid."""
    lr: bounds.LR.field = 1e-3
    """Peak AdamW learning rate (one-cycle schedule)."""
    weight_decay: bounds.WEIGHT_DECAY.field = 1e-2
    """AdamW weight decay."""
    rgb_weight: LOSS_WEIGHT.field = 1.0
    """Weight of the colour term against the density term (distill)."""
    fg_weight: LOSS_WEIGHT.field = 0.8
    """Loss weight of points (rays) where the NeRF has matter."""
    bg_weight: LOSS_WEIGHT.field = 0.2
    """Loss weight of empty points (rays)."""
    alpha_step: Bound(float, 1e-9, 10.0).field = 0.02
    """Segment length (world units, about the renderer's step) turning density into opacity
    ``1 - exp(-sigma·step)`` to tell foreground points from empty ones."""
    fg_alpha: FRACTION.field = 0.01
    """A point counts as foreground where the NeRF's opacity exceeds this."""
    sigma_max: Bound(float, 1e-9, 1e9).field = 200.0
    """Densities above this are all "opaque" for the distillation loss (opacity 0.98 over
    ``alpha_step``)."""
    val_every: bounds.EPOCHS.field = 1
    """Epochs between validations (the last epoch is always validated); rendering the
    validation NeRFs can cost more than a short epoch."""
    val_views: bounds.VIEWS.field = 1
    """Views per validation NeRF for the validation PSNR."""
    val_resolution: bounds.RESOLUTION.field = 32
    """Side of the validation renders, pixels."""
    max_val_nerfs: Bound(int, 0, 1 << 20).field = 4
    """Validation NeRFs rendered per epoch (the first ones of the val split)."""
    val_grid_resolution: bounds.GRID.field = 24
    """Occupancy grid of the decoded field used to render it (cells per axis)."""
    seed: bounds.SEED.field = 0
    """Seed of the initialisation and the sampling."""
    weight_noise: Bound(float, 0.0, 100.0).field = 0.0
    """Weight-space augmentation (distill loss): the encoder reads each training NeRF's
    weights plus Gaussian noise of this std relative to the NeRF's RMS weight (all-zero rows
    stay zero); the decoder still distils the clean NeRF (``clip2nerf.nf2vec.augment``).
    0 (default, as nf2vec): off."""
    permute_units: bool = False
    """Weight-space augmentation (distill loss): the encoder reads each training NeRF with its
    hidden units randomly permuted (the same field; ``clip2nerf.nf2vec.augment``). Off by
    default, as in nf2vec."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return parse(cls, d, "train config")


def list_presets() -> list[str]:
    """Names of the bundled presets (``presets/<name>.json``)."""
    root = resources.files("clip2nerf.nf2vec") / "presets"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> tuple[Nf2vecConfig, TrainConfig]:
    """The model and training configs of a named preset; an unknown name is a UserError."""
    names = list_presets()
    if name not in names:
        raise UserError(f"--preset {name!r}: unknown nf2vec preset; choose one of {', '.join(names)}")
    text = (resources.files("clip2nerf.nf2vec") / "presets" / f"{name}.json").read_text("utf-8")
    d = json.loads(text)
    model = Nf2vecConfig.from_dict({"name": name, **d["model"]})
    return model, TrainConfig.from_dict(d.get("train", {}))


__all__ = ["CONFIG_FORMAT", "CONFIG_VERSION", "EncoderConfig", "DecoderConfig", "Nf2vecConfig",
           "TrainConfig", "list_presets", "load_preset"]
