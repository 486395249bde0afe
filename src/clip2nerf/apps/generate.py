"""NeRF generation from text or images (paper §7): VLM -> clip2nerf -> nf2vec decoder -> views.

The predicted nf2vec embedding conditions nf2vec's implicit decoder, itself a radiance field,
which the NeRF renderer draws from orbit cameras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import VisionLanguageModel
    from clip2nerf.vlm.preprocess import ImageLike


@dataclass
class Generated:
    """A generated NeRF: its nf2vec embedding and rendered views."""

    embedding: np.ndarray
    """(embed_dim,) unit vector predicted by clip2nerf."""
    views: np.ndarray
    """(n_views, H, W, 4) uint8 RGBA renders of the decoded field."""


def generate(nf2vec: Nf2vec, clip2nerf: FeatureMapper, vlm: VisionLanguageModel,
             text: str | None = None, images: Sequence[ImageLike] | None = None,
             n_views: int = 8, resolution: int = 96, n_samples: int = 128,
             device: str = "cpu") -> Generated:
    """Render the NeRF that ``text`` or ``images`` map to (mapper checked against both models)."""
    import torch

    from clip2nerf.apps.models import check_mapper
    from clip2nerf.apps.search import query_embedding
    from clip2nerf.nf2vec.views import render_embedding, view_poses

    if n_views < 1 or resolution < 8:
        raise UserError("--views must be >= 1 and --resolution >= 8")
    check_mapper(clip2nerf, "clip2nerf", vlm, nf2vec.space, nf2vec.config.encoder.embed_dim)
    emb = query_embedding(clip2nerf, vlm, text, images)
    with torch.no_grad():
        views = render_embedding(nf2vec.decoder, torch.from_numpy(emb).to(device),
                                 view_poses(n_views), resolution, n_samples=n_samples)
    return Generated(emb, (views.numpy().clip(0, 1) * 255 + 0.5).astype(np.uint8))
