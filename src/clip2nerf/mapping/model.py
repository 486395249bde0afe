"""The feature mapping network and its ``save_pretrained`` / ``from_pretrained`` folder.

A folder holds ``config.json`` (a :class:`MapperConfig` plus format tag) and
``model.safetensors`` (the two linear layers). Loading validates every tensor's shape, dtype
and finiteness against the config and can refuse a mapper trained for other models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from clip2nerf.errors import UserError
from clip2nerf.mapping.config import MapperConfig

MAPPER_FORMAT = "clip2nerf-mapper"
MAPPER_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class FeatureMapper(nn.Module):
    """``Linear(in, hidden) -> GELU -> Linear(hidden, out)`` (paper §3.2), or one Linear +
    GELU per ``config.hidden_dims`` (the reference code's deeper network).

    ``forward(x: (n, in_dim)) -> (n, out_dim)``, not normalised: the cosine loss and the
    cosine k-NN downstream ignore the norm.
    """

    def __init__(self, config: MapperConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.hidden_dims or [config.hidden_dim]
        layers: list[nn.Module] = []
        d = config.in_dim
        for w in widths:
            layers += [nn.Linear(d, w), nn.GELU()]
            d = w
        layers.append(nn.Linear(d, config.out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.input_scale != 1.0:
            x = x * self.config.input_scale
        return self.net(x)

    @torch.no_grad()
    def map(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Map embeddings ``x: (n, in_dim)`` to L2-normalised float32 ``(n, out_dim)`` (raw
        outputs with ``config.normalize_output`` False).

        A 1-D ``x`` is treated as one row. The input space is not checked here; callers with an
        :class:`EmbeddingTable` use :meth:`map_table`, which is.
        """
        x = np.asarray(x, dtype=np.float32)
        squeeze = x.ndim == 1
        x = x.reshape(1, -1) if squeeze else x
        if x.ndim != 2 or x.shape[1] != self.config.in_dim:
            raise UserError(f"{self.config.direction} expects inputs of shape (n, "
                            f"{self.config.in_dim}), got {x.shape}")
        if not np.isfinite(x).all():
            raise UserError(f"{self.config.direction}: input embeddings contain NaN or infinity")
        device = next(self.parameters()).device
        was_training = self.training
        if was_training:  # (a mode switch walks every module: skipped when already eval)
            self.eval()
        out = []
        for start in range(0, len(x), batch_size):
            y = self(torch.from_numpy(x[start:start + batch_size]).to(device))
            if self.config.normalize_output:
                y = torch.nn.functional.normalize(y, dim=-1)
            out.append(y.cpu().numpy())
        if was_training:
            self.train()
        res = np.concatenate(out) if out else np.zeros((0, self.config.out_dim), np.float32)
        return res[0] if squeeze else res

    def map_multiview(self, x: np.ndarray) -> np.ndarray:
        """One query per object from several views (paper §6.1, multi-view query).

        ``x: (q, v, in_dim)``; each view is mapped, the v unit outputs are averaged and the
        mean re-normalised. Returns ``(q, out_dim)`` float32.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise UserError(f"multi-view queries must be (q, v, {self.config.in_dim}), got "
                            f"{x.shape}")
        mapped = self.map(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:2], -1).mean(axis=1)
        if not self.config.normalize_output:
            return mapped.astype(np.float32)
        return mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)

    def map_table(self, table, space_check: bool = True):
        """Map an :class:`EmbeddingTable` (``(n, d)`` or ``(n, v, d)``) into the other space.

        The output table keeps ids and labels, has ``space = config.out_space`` and, for
        per-view input, keeps the view axis. Its input space must match the mapper's.
        """
        from clip2nerf.utils.embeddings import EmbeddingTable

        cfg = self.config
        if space_check and table.space != cfg.in_space:
            raise UserError(f"{cfg.direction} was trained on {cfg.in_space!r} embeddings, "
                            f"but these are {table.space!r}")
        flat = table.vectors.reshape(-1, table.dim)
        mapped = self.map(flat).reshape(*table.vectors.shape[:-1], cfg.out_dim)
        return EmbeddingTable(mapped, table.ids, table.labels, cfg.out_space,
                              {**table.extra, "mapped_by": cfg.direction})

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (each atomically).

        Weights are written first, so a folder whose config exists always has its weights.
        """
        from clip2nerf.utils.pretrained import write_pretrained

        write_pretrained(folder, WEIGHTS_NAME, self.state_dict(),
                         {"format": MAPPER_FORMAT, "version": MAPPER_VERSION,
                          **self.config.to_dict()}, metadata={"format": MAPPER_FORMAT})

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, direction: str | None = None,
                        vlm_space: str | None = None, vlm_dim: int | None = None,
                        nf2vec_space: str | None = None, device: str | torch.device = "cpu",
                        ) -> FeatureMapper:
        """Load a mapper folder, refusing one for another direction, VLM or nf2vec model."""
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"mapper folder not found: {folder}")
        config = load_mapper_config(folder)
        if direction is not None and config.direction != direction:
            raise UserError(f"{folder} is a {config.direction} mapper, but a {direction} "
                            "mapper is needed here")
        config.check_compatible(vlm_space=vlm_space, vlm_dim=vlm_dim,
                                nf2vec_space=nf2vec_space, what=f"mapper {folder}")
        model = cls(config)
        model.load_state_dict(_read_weights(folder / WEIGHTS_NAME, model))
        return model.to(device).eval()


def load_mapper_config(folder: str | Path) -> MapperConfig:
    """Read and validate ``folder/config.json``."""
    from clip2nerf.utils.pretrained import config_from_dict, read_config_json

    path = Path(folder) / CONFIG_NAME
    data = read_config_json(path, MAPPER_FORMAT, MAPPER_VERSION, "clip2nerf mapper config")
    return config_from_dict(MapperConfig, data, path, "mapper config")


def _read_weights(path: Path, model: FeatureMapper) -> dict[str, torch.Tensor]:
    from clip2nerf.utils.weights import load_checked_state_dict

    return load_checked_state_dict(path, model.state_dict(), "mapper")
