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

from clip2nerf.classes import CLASSES, ZERO_SHOT_TEMPLATE
from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import VisionLanguageModel

DEFAULT_TEMPLATE = ZERO_SHOT_TEMPLATE
"""The paper's zero-shot prompt (§5), ``clip2nerf.classes.ZERO_SHOT_TEMPLATE``."""


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


def zero_shot_scores(nerf_embeddings: np.ndarray, nerf2clip: FeatureMapper,
                     prompts: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Every class's score of each NeRF: ``(n, c)`` cosine similarities between the nerf2clip
    output of ``nerf_embeddings: (n, 1024)`` and the ``prompts: (c, d)`` of ``classes``
    (column j is ``classes[j]``). ``zero_shot_labels`` keeps each row's best."""
    from clip2nerf.index import classify_1nn

    _, sims = classify_1nn(nerf2clip.map(nerf_embeddings), prompts, list(classes))
    return sims


def best_classes(sims: np.ndarray, classes: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The label of each row of ``sims: (n, c)`` (``zero_shot_scores``) and its score ``(n,)``."""
    return [classes[j] for j in sims.argmax(axis=1)], sims.max(axis=1)


def zero_shot_labels(nerf_embeddings: np.ndarray, nerf2clip: FeatureMapper,
                     prompts: np.ndarray, classes: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels of ``nerf_embeddings: (n, 1024)`` and their scores ``(n,)`` (cosine)."""
    return best_classes(zero_shot_scores(nerf_embeddings, nerf2clip, prompts, classes), classes)


def expand_nerf_paths(nerfs: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders as their ``*.safetensors`` files (sorted); missing -> UserError."""
    from clip2nerf.nf2vec.nerfs import find_nerf_files

    out: list[Path] = []
    for p in nerfs:
        path = Path(p)
        if path.is_dir():
            out.extend(find_nerf_files(path))
        elif path.is_file():
            out.append(path)
        else:
            raise UserError(f"NeRF file not found: {path}")
    if not out:
        raise UserError("no NeRF files given")
    return out


class ZeroShotClassifier:
    """Zero-shot labels of many NeRFs: the batched path.

    The prompt embeddings are computed once; NeRF files are read in chunks by a thread pool
    (weights only, the occupancy grid is skipped) while the previous chunk is encoded; each
    chunk goes through the nf2vec encoder and nerf2clip as one batch and is scored against
    every prompt with one matrix product. Results equal ``classify_nerfs`` on one file at a
    time up to float rounding.
    """

    def __init__(self, nf2vec: Nf2vec, nerf2clip: FeatureMapper, vlm: VisionLanguageModel,
                 classes: Sequence[str] | None = None, template: str = DEFAULT_TEMPLATE,
                 device: str = "cpu", batch_size: int = 256, read_workers: int = 4,
                 members: Sequence[tuple[Nf2vec, FeatureMapper]] = (),
                 prompts: np.ndarray | None = None):
        """``batch_size``: NeRFs per chunk (memory ~ batch_size x 75 kB of weights);
        ``read_workers``: threads reading files. ``members``: more (nf2vec, nerf2clip) pairs
        of an ensemble (``clip2nerf.apps.ensemble``; their NeRF architecture must be
        ``nf2vec``'s): labels then come from the mean of every pair's nerf2clip outputs.
        ``prompts``: ``prompt_embeddings(vlm, classes, template)`` computed already (the web
        service holds them), so the VLM is not asked again."""
        from clip2nerf.apps.models import check_mapper

        self.members = [(nf2vec, nerf2clip), *members]
        for model, mapper in self.members:
            check_mapper(mapper, "nerf2clip", vlm, model.space, model.config.encoder.embed_dim)
            if (model.config.nerf != nf2vec.config.nerf
                    or model.reads_output_padding != nf2vec.reads_output_padding):
                raise UserError(f"ensemble member {model.space} reads another NeRF "
                                f"architecture than {nf2vec.space}; every member must read "
                                "the same NeRF files")
        if batch_size < 1 or read_workers < 1:
            raise UserError("--batch-size and the number of read workers must be >= 1")
        self.nf2vec, self.nerf2clip, self.device = nf2vec, nerf2clip, device
        self.classes = list(classes) if classes else default_classes()
        if prompts is None:
            prompts = prompt_embeddings(vlm, self.classes, template)
        elif len(prompts) != len(self.classes):
            raise UserError(f"{len(prompts)} prompt embeddings for {len(self.classes)} classes")
        self.prompts = prompts
        self.batch_size, self.read_workers = batch_size, read_workers

    def label_matrices(self, matrices) -> tuple[list[str], np.ndarray]:
        """Labels and cosine scores ``(n,)`` of ``matrices: (n, rows, hidden)`` weight matrices."""
        return best_classes(self.score_matrices(matrices), self.classes)

    def score_matrices(self, matrices) -> np.ndarray:
        """Every class's cosine score ``(n, c)`` of ``matrices: (n, rows, hidden)`` weight
        matrices (column j is ``self.classes[j]``; ``label_matrices`` keeps each row's best)."""
        from clip2nerf.apps.ensemble import EnsembleMember, ensemble_zero_shot_scores
        from clip2nerf.nf2vec import embed_matrices

        # Encoder batches of at most 64 NeRFs: with the oneDNN layers (utils/cpu_linear) a
        # folder of 1000 files took 0.46 ms per NeRF at 64, 0.50 at 32, 0.55-0.61 at 128, where
        # each layer's 18 MB output is a fresh mmap that page-faults on every batch.
        def embed(model: Nf2vec) -> np.ndarray:
            return embed_matrices(model, matrices, batch_size=min(self.batch_size, 64),
                                  device=self.device).numpy()

        if len(self.members) == 1:
            return zero_shot_scores(embed(self.nf2vec), self.nerf2clip, self.prompts,
                                    self.classes)
        return ensemble_zero_shot_scores([EnsembleMember(embed(model), mapper)
                                          for model, mapper in self.members],
                                         self.prompts, self.classes)

    def classify_files(self, nerfs: Sequence[str | Path]) -> list[Classification]:
        """Labels of NeRF files and folders of them (see ``expand_nerf_paths``), in order."""
        from concurrent.futures import ThreadPoolExecutor

        from clip2nerf.nf2vec.nerfs import read_weight_matrices

        files = expand_nerf_paths(nerfs)
        chunks = [files[i:i + self.batch_size] for i in range(0, len(files), self.batch_size)]
        config = self.nf2vec.config.nerf
        padding = self.nf2vec.reads_output_padding
        out: list[Classification] = []
        if len(files) < 8:  # a few files: threads would cost more than they overlap
            got = read_weight_matrices(files, config, workers=1, output_padding=padding)
            return self._results(got)
        with ThreadPoolExecutor(max_workers=self.read_workers) as pool, \
                ThreadPoolExecutor(max_workers=1) as prefetch:
            def read(chunk):
                return read_weight_matrices(chunk, config, pool=pool, output_padding=padding)

            pending = prefetch.submit(read, chunks[0])
            for i in range(len(chunks)):
                got = pending.result()
                if i + 1 < len(chunks):  # read the next chunk while this one is encoded
                    pending = prefetch.submit(read, chunks[i + 1])
                out.extend(self._results(got))
        return out

    def _results(self, got) -> list[Classification]:
        labels, scores = self.label_matrices(got.matrices)
        return [Classification(p, oid, lab, float(sc), cls) for p, oid, lab, sc, cls
                in zip(got.paths, got.ids, labels, scores, got.classes, strict=True)]


def classify_nerfs(nerfs: Sequence[str | Path], nf2vec: Nf2vec, nerf2clip: FeatureMapper,
                   vlm: VisionLanguageModel, classes: Sequence[str] | None = None,
                   template: str = DEFAULT_TEMPLATE, device: str = "cpu"
                   ) -> list[Classification]:
    """Zero-shot labels of NeRF files (or folders of them), through ``ZeroShotClassifier``.

    The mapper must be a nerf2clip trained with this ``vlm`` and this ``nf2vec`` model
    (refused otherwise). ``classes`` defaults to the paper's 13 classes.
    """
    if not nerfs:
        raise UserError("no NeRF files given")
    return ZeroShotClassifier(nf2vec, nerf2clip, vlm, classes, template,
                              device).classify_files(nerfs)
