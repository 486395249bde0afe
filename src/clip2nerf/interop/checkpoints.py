"""The reference checkpoints -> our model folders.

nf2vec (``CVLAB-Unibo/nf2vec``, ``nerf2vec/train_nerf2vec.py::Nerf2vecTrainer.save_ckpt``): a
dict with ``encoder``, ``decoder``, ``optimizer``, ``epoch``, ``best_psnr``. The encoder
(``models/encoder.py::Encoder``) is ``Conv1d(k=1) + BatchNorm1d + ReLU`` for each of
``[512, 512, 1024, 1024]``, then ``Conv1d(1024, 1024, 1)`` and a max over rows, on the matrix of
``nerf2vec/utils.py::get_mlp_params_as_matrix`` (``layout.tcnn_matrix``). A 1×1 Conv1d over
rows is our per-row Linear, so the weights map one to one (``layers.{3i}`` -> ``rows_mlp.{3i}``,
``layers.{3i+1}`` -> the BatchNorm, ``layers.{3n}`` -> ``proj``).

The decoder (``models/idecoder.py::ImplicitDecoder``): ``in_layer = Linear(e ⊕ γ(x)) + ReLU``,
``before_skip`` 2 × (Linear + ReLU), ``x + skip_proj(e ⊕ γ(x))`` (Linear + ReLU, *added*),
``after_skip`` 2 × (Linear + ReLU) and a Linear to 4, on raw embeddings, ``γ`` tcnn's 24-frequency
encoding of the box-normalised point, sigmoid colour, ``trunc_exp(x - 1)`` density. It loads
into our ``ImplicitDecoder`` with ``DecoderConfig(skip="add", raw_embeddings=True,
n_layers_before_skip=3, n_layers_after_skip=2)``: ``in_layer`` and ``skip_proj`` are split
into their embedding part (with the bias) and point part.

clip2nerf / nerf2clip (``CVLAB-Unibo/clip2nerf``, ``feature_mapping/train_*.py``): a dict whose
``fmn`` entry is the state dict of ``feature_mapping/fmn.py::FeatureMappingNetwork``:
``Linear + GELU`` per width of ``network_config.LAYERS = [512, 768, 1024]``, then a Linear to the
output (keys ``layers.0``, ``layers.2``, ``layers.4``, ``layers.6``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from clip2nerf.errors import UserError
from clip2nerf.interop.pth import expect_mapping, load_pth
from clip2nerf.utils.checkpoint import seeded
from clip2nerf.utils.weights import check_state_dict

REFERENCE_NF2VEC_NAME = "nf2vec-reference"
"""Model name of an imported reference nf2vec (its space is ``nf2vec:nf2vec-reference@<hash>``)."""


def _state(ckpt: Any, key: str, path: Path, what: str) -> dict[str, torch.Tensor]:
    ckpt = expect_mapping(ckpt, path, what)
    sd = ckpt.get(key, ckpt if key not in ckpt and all(
        isinstance(v, torch.Tensor) for v in ckpt.values()) else None)
    if sd is None:
        raise UserError(f"{path}: no {key!r} entry (keys: {sorted(ckpt)[:8]}); is this a "
                        f"{what}?")
    sd = expect_mapping(sd, path, f"the {key!r} state dict")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise UserError(f"{path}: {key}.{k} is not a tensor")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise UserError(f"{path}: {key}.{k} contains NaN or infinity")
    return sd


def encoder_state_from_reference(sd: dict[str, torch.Tensor], path: Path | str = "checkpoint"
                                 ) -> tuple[dict[str, torch.Tensor], list[int], int]:
    """Reference ``Encoder`` state dict -> (our encoder state dict, widths, embed_dim)."""
    convs = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"layers\.(\d+)\.weight", k))
                    and sd[k].dim() == 3})
    if not convs or any(i % 3 for i in convs):
        raise UserError(f"{path}: encoder state dict does not look like nf2vec's Encoder "
                        f"(Conv1d layers.0, layers.3, ...; keys {sorted(sd)[:6]})")
    out: dict[str, torch.Tensor] = {}
    widths: list[int] = []
    last = convs[-1]
    for i in convs:
        w = sd[f"layers.{i}.weight"]
        if w.shape[-1] != 1:
            raise UserError(f"{path}: layers.{i} is a Conv1d with kernel {w.shape[-1]}, not 1")
        dst = "proj" if i == last else f"rows_mlp.{i}"
        out[f"{dst}.weight"] = w[..., 0].float().contiguous()
        out[f"{dst}.bias"] = sd[f"layers.{i}.bias"].float().contiguous()
        if i != last:
            widths.append(int(w.shape[0]))
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                key = f"layers.{i + 1}.{name}"
                if key not in sd:
                    raise UserError(f"{path}: encoder state dict lacks {key} (BatchNorm1d)")
                t = sd[key]
                out[f"rows_mlp.{i + 1}.{name}"] = t.long() if name.startswith("num") else t.float()
    return out, widths, int(sd[f"layers.{last}.weight"].shape[0])


def decoder_state_from_reference(sd: dict[str, torch.Tensor], embed_dim: int,
                                 path: Path | str = "checkpoint"):
    """Reference ``ImplicitDecoder`` state dict -> (our decoder state dict, DecoderConfig)."""
    from clip2nerf.nf2vec.config import DecoderConfig

    def lin(key: str) -> tuple[torch.Tensor, torch.Tensor]:
        if f"{key}.weight" not in sd or f"{key}.bias" not in sd:
            raise UserError(f"{path}: decoder state dict lacks {key} (keys {sorted(sd)[:6]})")
        return sd[f"{key}.weight"].float(), sd[f"{key}.bias"].float()

    w_in, b_in = lin("in_layer.0")
    hidden, n_in = w_in.shape
    n_point = n_in - embed_dim
    if n_point <= 0 or n_point % 6:
        raise UserError(f"{path}: decoder input of {n_in} does not split into a {embed_dim}-d "
                        "embedding and a 3·2·F frequency encoding")
    n_before = len({k.split(".")[1] for k in sd if k.startswith("before_skip.")})
    after = sorted({int(k.split(".")[1]) for k in sd if k.startswith("after_skip.")})
    n_after = len(after) - 1
    if n_after < 1 or after != list(range(n_after + 1)):
        raise UserError(f"{path}: unexpected after_skip layers {after}")
    out: dict[str, torch.Tensor] = {}

    def split(dst: str, w: torch.Tensor, b: torch.Tensor) -> None:
        out[f"{dst}_embed.weight"] = w[:, :embed_dim].contiguous()
        out[f"{dst}_embed.bias"] = b.contiguous()
        out[f"{dst}_point.weight"] = w[:, embed_dim:].contiguous()

    split("first", w_in, b_in)
    split("skip", *lin("skip_proj.0"))
    for i in range(n_before):
        out[f"before.{i}.weight"], out[f"before.{i}.bias"] = lin(f"before_skip.{i}.0")
    for i in range(n_after):
        out[f"after.{i}.weight"], out[f"after.{i}.bias"] = lin(f"after_skip.{i}.0")
    out["out.weight"], out["out.bias"] = lin(f"after_skip.{n_after}")
    config = DecoderConfig(hidden=int(hidden), n_layers_before_skip=n_before + 1,
                           n_layers_after_skip=n_after, n_freqs=n_point // 6, skip="add",
                           raw_embeddings=True)
    return out, config


def load_reference_nf2vec(path: str | Path):
    """A reference nf2vec checkpoint (``.pt``) -> ``Nf2vec`` with its encoder and decoder.

    The model reads NeRFs in tcnn order (``EncoderConfig.input_layout = "tcnn"``), returns
    raw embeddings (``unit_output = False``) as nf2vec exports them, and its decoder takes them
    raw. A checkpoint without a decoder gives a model whose decoding refuses
    (``Nf2vecConfig.decoder_trained`` False).
    """
    from clip2nerf.nf2vec.config import DecoderConfig, EncoderConfig, Nf2vecConfig
    from clip2nerf.nf2vec.model import Nf2vec

    path = Path(path)
    ckpt = load_pth(path, "nf2vec checkpoint")
    sd = _state(ckpt, "encoder", path, "nf2vec checkpoint")
    state, widths, embed_dim = encoder_state_from_reference(sd, path)
    dec_sd = expect_mapping(ckpt, path, "nf2vec checkpoint").get("decoder") or {}
    if dec_sd:
        dec_state, dec_cfg = decoder_state_from_reference(
            _state(ckpt, "decoder", path, "nf2vec checkpoint"), embed_dim, path)
    else:
        dec_state, dec_cfg = None, DecoderConfig(skip="add", raw_embeddings=True,
                                                 n_layers_before_skip=3)
    config = Nf2vecConfig(name=REFERENCE_NF2VEC_NAME,
                          encoder=EncoderConfig(widths=tuple(widths), embed_dim=embed_dim,
                                                input_layout="tcnn", unit_output=False),
                          decoder=dec_cfg, decoder_trained=dec_state is not None)
    in_dim = state["rows_mlp.0.weight"].shape[1]
    if in_dim != config.nerf.hidden:
        raise UserError(f"{path}: the encoder reads rows of {in_dim}, the nf2vec NeRF has "
                        f"{config.nerf.hidden} hidden units")
    with seeded(0):  # an absent decoder gets the same (unused) weights on every import
        model = Nf2vec(config)
    # The converted weights pass the check every model file passes (names, shapes, dtypes).
    check_state_dict(state, model.encoder.state_dict(), str(path), "nf2vec encoder")
    model.encoder.load_state_dict(state)
    if dec_state is not None:
        dec_state["embedding_center"] = model.decoder.embedding_center
        check_state_dict(dec_state, model.decoder.state_dict(), str(path), "nf2vec decoder")
        model.decoder.load_state_dict(dec_state)
    return model.eval()


def mapper_state_from_reference(sd: dict[str, torch.Tensor], path: Path | str = "checkpoint"
                                ) -> tuple[dict[str, torch.Tensor], list[int], int, int]:
    """``FeatureMappingNetwork`` state dict -> (our ``net.*`` state, hidden widths, in, out)."""
    idx = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"layers\.(\d+)\.weight", k)))
    if len(idx) < 2 or idx != list(range(0, 2 * len(idx), 2)) or any(
            sd[f"layers.{i}.weight"].dim() != 2 for i in idx):
        raise UserError(f"{path}: 'fmn' does not look like clip2nerf's FeatureMappingNetwork "
                        f"(Linear layers.0, layers.2, ...; keys {sorted(sd)[:6]})")
    state = {}
    for i in idx:
        for name in ("weight", "bias"):
            key = f"layers.{i}.{name}"
            if key not in sd:
                raise UserError(f"{path}: fmn lacks {key}")
            state[f"net.{i}.{name}"] = sd[key].float().contiguous()
    widths = [int(sd[f"layers.{i}.weight"].shape[0]) for i in idx[:-1]]
    return (state, widths, int(sd["layers.0.weight"].shape[1]),
            int(sd[f"layers.{idx[-1]}.weight"].shape[0]))


def load_reference_mapper(path: str | Path, direction: str, vlm_space: str, nf2vec_space: str,
                          input_scale: float = 1.0):
    """A reference clip2nerf / nerf2clip checkpoint (``fmn`` key) -> ``FeatureMapper``.

    Args:
        direction: ``clip2nerf`` (VLM -> nf2vec) or ``nerf2clip``.
        vlm_space: the VLM space it reads or writes, for the compatibility checks.
        nf2vec_space: the nf2vec space it reads or writes, likewise.
        input_scale: see ``MapperConfig.input_scale``.

    A clip2nerf mapper keeps raw outputs (``normalize_output`` False): they live in the raw
    nf2vec space of the reference encoder and feed its decoder as the reference does.
    """
    from clip2nerf.mapping.config import MapperConfig, TrainConfig
    from clip2nerf.mapping.model import FeatureMapper

    path = Path(path)
    sd = _state(load_pth(path, f"{direction} checkpoint"), "fmn", path,
                f"{direction} checkpoint")
    state, widths, in_dim, out_dim = mapper_state_from_reference(sd, path)
    vlm_dim, nf_dim = (in_dim, out_dim) if direction == "clip2nerf" else (out_dim, in_dim)
    config = MapperConfig(direction=direction, vlm_space=vlm_space, vlm_dim=vlm_dim,  # type: ignore[arg-type]
                          nf2vec_space=nf2vec_space, nf2vec_dim=nf_dim, hidden_dims=widths,
                          input_scale=input_scale, normalize_output=direction == "nerf2clip",
                          train=TrainConfig.paper(direction))  # type: ignore[arg-type]
    model = FeatureMapper(config)
    check_state_dict(state, model.state_dict(), str(path), f"{direction} mapper")
    model.load_state_dict(state)
    return model.eval()


__all__ = ["REFERENCE_NF2VEC_NAME", "decoder_state_from_reference", "encoder_state_from_reference", "load_reference_mapper",
           "load_reference_nf2vec", "mapper_state_from_reference"]
