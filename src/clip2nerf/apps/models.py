"""Loading the models an application composes, with the compatibility checks enforced.

A mapper records the VLM (name and dims) and the nf2vec model (space) it was trained with;
every application path loads it through :func:`load_mapper`, which refuses a mapper trained
for another VLM or another nf2vec model instead of producing silent nonsense.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import VisionLanguageModel


def check_mapper(mapper: FeatureMapper, direction: str, vlm: VisionLanguageModel | None = None,
                 nf2vec_space: str | None = None, nf2vec_dim: int | None = None,
                 what: str = "mapper") -> None:
    """Refuse a mapper of the wrong direction or trained for another VLM / nf2vec model."""
    cfg = mapper.config
    if cfg.direction != direction:
        raise UserError(f"{what} is a {cfg.direction} mapper, but a {direction} mapper is "
                        "needed here")
    cfg.check_compatible(vlm_space=vlm.space if vlm is not None else None,
                         vlm_dim=vlm.dim if vlm is not None else None,
                         nf2vec_space=nf2vec_space, nf2vec_dim=nf2vec_dim, what=what)


def load_mapper(folder: str | Path, direction: str, vlm: VisionLanguageModel | None = None,
                nf2vec: Nf2vec | None = None, nf2vec_space: str | None = None,
                device: str = "cpu") -> FeatureMapper:
    """Load a mapper folder and check it against the VLM and nf2vec model in use."""
    from clip2nerf.mapping import FeatureMapper

    space = nf2vec.space if nf2vec is not None else nf2vec_space
    dim = nf2vec.config.encoder.embed_dim if nf2vec is not None else None
    mapper = FeatureMapper.from_pretrained(folder, device=device)
    check_mapper(mapper, direction, vlm, space, dim, what=f"mapper {folder}")
    return mapper
