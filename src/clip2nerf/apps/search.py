"""NeRF retrieval from text or images (paper §6): VLM -> clip2nerf -> k-NN in a NeRF gallery.

Several query images of one object are each mapped by clip2nerf and the unit outputs averaged
(paper §6.1, multi-view query). The gallery holds nf2vec embeddings of the same nf2vec model
the mapper was trained for; anything else is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.index import Gallery
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.vlm import VisionLanguageModel
    from clip2nerf.vlm.preprocess import ImageLike


@dataclass
class SearchHit:
    """One retrieved NeRF."""

    rank: int
    object_id: str
    label: str
    score: float
    """Cosine similarity between the mapped query and the NeRF embedding."""
    source: str | None
    """The NeRF file recorded for this id in the gallery (``None`` when unknown)."""


def query_embedding(clip2nerf: FeatureMapper, vlm: VisionLanguageModel,
                    text: str | None = None, images: Sequence[ImageLike] | None = None
                    ) -> np.ndarray:
    """The nf2vec-space query ``(1024,)``: mapped text, or the mean of mapped image views."""
    from clip2nerf.apps.models import check_mapper

    if (text is None) == (not images):
        raise UserError("give exactly one query: a text or one or more images")
    check_mapper(clip2nerf, "clip2nerf", vlm)
    if text is not None:
        return clip2nerf.map(vlm.embed_texts([text]))[0]
    emb = vlm.embed_images(list(images))  # (v, d)
    return clip2nerf.map_multiview(emb[None])[0]


def search(gallery: Gallery, clip2nerf: FeatureMapper, vlm: VisionLanguageModel,
           text: str | None = None, images: Sequence[ImageLike] | None = None, k: int = 5,
           exclude_ids: Sequence[str] = ()) -> list[SearchHit]:
    """The ``k`` gallery NeRFs closest to a text or image query, best first."""
    if gallery.space != clip2nerf.config.nf2vec_space:
        raise UserError(f"the gallery holds {gallery.space!r} embeddings but the clip2nerf mapper "
                        f"maps into {clip2nerf.config.nf2vec_space!r}; build the gallery with "
                        "the nf2vec model the mapper was trained for")
    q = query_embedding(clip2nerf, vlm, text, images)
    ids, scores = gallery.search(q[None], k, exclude_ids=[list(exclude_ids)],
                                 space=clip2nerf.config.nf2vec_space)
    labels = gallery.labels_of(ids)
    sources = gallery.extra.get("sources") or {}
    return [SearchHit(r + 1, str(i), str(lab), float(s), sources.get(str(i)))
            for r, (i, lab, s) in enumerate(zip(ids[0], labels[0], scores[0], strict=True))
            if i != ""]


def resolve_source(hit: SearchHit, nerf_dir: str | Path | None = None) -> Path | None:
    """The NeRF file of a hit: the gallery's record if it exists, else ``nerf_dir/<id>``."""
    from clip2nerf.nerf.manifest import nerf_path

    if hit.source and Path(hit.source).is_file():
        return Path(hit.source)
    if nerf_dir is not None and nerf_path(Path(nerf_dir), hit.object_id).is_file():
        return nerf_path(Path(nerf_dir), hit.object_id)
    return None
