"""The paper's applications, composed from the stage packages (paper §5–§7).

- ``classify_nerfs(nerfs, nf2vec, nerf2clip, vlm, classes=None, template=...)``: a list of
  ``Classification``; ``ZeroShotClassifier(nf2vec, nerf2clip, vlm, ...).classify_files(files
  or folders)`` is the batched path; ``zero_shot_scores`` / ``score_matrices`` give every
  class's score.
- ``search(gallery, clip2nerf, vlm, text=None, images=None, k=5)``: a list of ``SearchHit``.
- ``generate(nf2vec, clip2nerf, vlm, text=None, images=None, n_views=8)``: ``Generated``.
- ``load_mapper(folder, direction, vlm, nf2vec)``: a mapper checked against the models in use.
"""

from clip2nerf.apps.classify import (
    DEFAULT_TEMPLATE,
    Classification,
    ZeroShotClassifier,
    classify_nerfs,
    default_classes,
    prompt_embeddings,
    zero_shot_labels,
    zero_shot_scores,
)
from clip2nerf.apps.generate import Generated, generate
from clip2nerf.apps.models import check_mapper, load_mapper
from clip2nerf.apps.search import SearchHit, query_embedding, resolve_source, search
from clip2nerf.apps.views import render_nerf_view, strip_png, text_tile

__all__ = [
    "DEFAULT_TEMPLATE",
    "Classification",
    "Generated",
    "SearchHit",
    "ZeroShotClassifier",
    "check_mapper",
    "classify_nerfs",
    "default_classes",
    "generate",
    "load_mapper",
    "prompt_embeddings",
    "query_embedding",
    "render_nerf_view",
    "resolve_source",
    "search",
    "strip_png",
    "text_tile",
    "zero_shot_labels",
    "zero_shot_scores",
]
