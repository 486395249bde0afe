"""Zero-shot NeRF classification (paper §5): nf2vec encoder -> nerf2clip -> 1-NN over prompts.

No rendering: the NeRF's weights are embedded by nf2vec, mapped into the VLM space, and the
label is the class whose prompt ("a 3d model of a {class}") embeds closest by cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import VisionLanguageModel

DEFAULT_TEMPLATE = "a 3d model of a {}"
"""The paper's zero-shot prompt (§5)."""


@dataclass
class Classification:
    """The zero-shot label of one NeRF file."""

    path: str
    object_id: str
    label: str
    score: float
    """Cosine similarity between the nerf2clip output and the label's prompt embedding."""
    stored_class: str
    """The class recorded in the NeRF file ("" or "unknown" when none)."""


def default_classes() -> list[str]:
    """The 13 ShapeNetRender classes of the paper (also the bundled synth classes)."""
    from clip2nerf.data.synth.classes import CLASSES

    return list(CLASSES)


def prompt_embeddings(vlm: VisionLanguageModel, classes: Sequence[str],
                      template: str = DEFAULT_TEMPLATE) -> np.ndarray:
    """(c, vlm.dim) unit text embeddings of ``fill_template(template, class)``."""
    if not classes:
        raise UserError("no classes to choose from (--classes is empty)")
    if len(set(classes)) != len(classes):
        raise UserError(f"--classes lists a class twice: {', '.join(classes)}")
    check_template(template)
    return vlm.embed_texts([fill_template(template, c) for c in classes])


def check_template(template: str) -> str:
    """A prompt template must hold exactly one ``{}`` (where the class name goes)."""
    if not isinstance(template, str) or template.count("{}") != 1:
        raise UserError(f"--template {template!r:.80}: must contain '{{}}' exactly once, where "
                        "the class name goes")
    if len(template) > 1000:
        raise UserError("--template: longer than 1000 characters")
    return template


def fill_template(template: str, class_name: str) -> str:
    """The template with its one ``{}`` replaced by ``class_name``: plain text replacement,
    never ``str.format`` (a format string can reach attributes, ``{0.__class__}``); any other
    braces stay as they are."""
    return template.replace("{}", class_name, 1)


def zero_shot_labels(nerf_embeddings: np.ndarray, nerf2clip: FeatureMapper,
                     prompts: np.ndarray, classes: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels of ``nerf_embeddings: (n, 1024)`` and their scores ``(n,)`` (cosine)."""
    from clip2nerf.index import classify_1nn

    mapped = nerf2clip.map(nerf_embeddings)
    labels, sims = classify_1nn(mapped, prompts, list(classes))
    return labels, sims.max(axis=1)


def classify_nerfs(nerfs: Sequence[str | Path], nf2vec: Nf2vec, nerf2clip: FeatureMapper,
                   vlm: VisionLanguageModel, classes: Sequence[str] | None = None,
                   template: str = DEFAULT_TEMPLATE, device: str = "cpu"
                   ) -> list[Classification]:
    """Zero-shot labels of NeRF files.

    The mapper must be a nerf2clip trained with this ``vlm`` and this ``nf2vec`` model
    (refused otherwise). ``classes`` defaults to the paper's 13 classes.
    """
    from clip2nerf.apps.models import check_mapper
    from clip2nerf.nf2vec import embed_matrices, load_nerf_set

    if not nerfs:
        raise UserError("no NeRF files given")
    check_mapper(nerf2clip, "nerf2clip", vlm, nf2vec.space, nf2vec.config.encoder.embed_dim)
    classes = list(classes) if classes else default_classes()
    sets = []
    for p in nerfs:
        path = Path(p)
        if not path.is_file():
            raise UserError(f"NeRF file not found: {path}")
        sets.append(load_nerf_set(path, nf2vec.config.nerf))
    import torch

    matrices = torch.cat([s.matrices for s in sets])
    emb = embed_matrices(nf2vec, matrices, device=device).numpy()
    labels, scores = zero_shot_labels(emb, nerf2clip, prompt_embeddings(vlm, classes, template),
                                      classes)
    return [Classification(str(p), s.ids[0], lab, float(sc), s.classes[0])
            for p, s, lab, sc in zip(nerfs, sets, labels, scores, strict=True)]
