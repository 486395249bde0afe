"""NeRF captioning by retrieval: nf2vec encoder -> nerf2clip -> nearest captions of a bank.

Beyond the paper (the same lab's LLaNA captions NeRFs with an LLM): a NeRF's weights are
embedded by nf2vec and mapped into the VLM space by nerf2clip, exactly as for zero-shot
classification (``classify.py``); instead of class prompts, the nearest sentences of a caption
bank (by default the training objects' captions) are returned with their cosine scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clip2nerf.apps.classify import ZeroShotClassifier
from clip2nerf.errors import UserError

if TYPE_CHECKING:
    from clip2nerf.mapping import FeatureMapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import VisionLanguageModel


@dataclass
class CaptionBank:
    """Distinct sentences with the class of an object they describe, and their embeddings."""

    texts: list[str]
    classes: list[str]
    vectors: np.ndarray
    """(n, vlm.dim) unit rows."""
    space: str
    source: str
    """Where the sentences came from (e.g. ``dataset tiny, split train``)."""


@dataclass
class Description:
    """The nearest captions of one NeRF file, best first."""

    path: str
    object_id: str
    stored_class: str
    captions: list[tuple[str, float, str]] = field(default_factory=list)
    """(sentence, cosine score, class of the object the sentence describes)."""


def build_caption_bank(vlm: VisionLanguageModel, texts: Sequence[str], classes: Sequence[str],
                       source: str) -> CaptionBank:
    """Embed distinct sentences (the first class seen for a repeated sentence is kept)."""
    seen: dict[str, str] = {}
    for t, c in zip(texts, classes, strict=True):
        t = " ".join(str(t).split())
        if t and t not in seen:
            seen[t] = c
    if not seen:
        raise UserError("the caption bank is empty")
    uniq = list(seen)
    return CaptionBank(uniq, [seen[t] for t in uniq], vlm.embed_texts(uniq), vlm.space, source)


def dataset_caption_bank(vlm: VisionLanguageModel, data: str | Path, split: str | None = "train",
                         caption_file: str | Path | None = None) -> CaptionBank:
    """The captions of a dataset split (its own, or a captioner's caption file)."""
    from clip2nerf.caption import dataset_captions, read_captions
    from clip2nerf.data.layouts import open_dataset

    ds = open_dataset(data)
    ids = ds.object_ids(split)
    if not ids:
        raise UserError(f"{ds.root}: split {split!r} holds no objects for the caption bank")
    if caption_file is not None:
        store = read_captions(caption_file)
        per_object, who = store.texts(ids), store.captioner
    else:
        per_object, who = dataset_captions(ds, ids), "dataset"
    classes = [ds.get(i).class_name for i in ids]
    texts = [t for ts in per_object for t in ts]
    cls = [c for c, ts in zip(classes, per_object, strict=True) for _ in ts]
    return build_caption_bank(vlm, texts, cls,
                              f"{who} captions of {ds.name} ({split or 'all'}, {len(ids)} objects)")


def describe_nerfs(nerfs: Sequence[str | Path], nf2vec: Nf2vec, nerf2clip: FeatureMapper,
                   vlm: VisionLanguageModel, bank: CaptionBank, k: int = 3,
                   device: str = "cpu", batch_size: int = 256) -> list[Description]:
    """The ``k`` nearest bank captions of every NeRF file (or folder of them; cosine in the VLM
    space), through zero-shot classification's batched path (weights-only reads by a thread
    pool, one encoder + nerf2clip batch per chunk)."""
    if not nerfs:
        raise UserError("no NeRF files given")
    if k < 1:
        raise UserError(f"--k {k}: must be at least 1")
    if bank.space != vlm.space:
        raise UserError(f"caption bank embedded by {bank.space!r}, but the VLM is {vlm.space!r}")
    return _CaptionRanker(nf2vec, nerf2clip, vlm, bank, k, device, batch_size
                          ).classify_files(nerfs)


class _CaptionRanker(ZeroShotClassifier):
    """``ZeroShotClassifier``'s chunked reading and encoding, scored against a caption bank
    (top ``k`` sentences) instead of class prompts."""

    def __init__(self, nf2vec, nerf2clip, vlm, bank: CaptionBank, k: int, device: str,
                 batch_size: int):
        from clip2nerf.apps.models import check_mapper
        from clip2nerf.utils.embeddings import l2_normalize

        check_mapper(nerf2clip, "nerf2clip", vlm, nf2vec.space, nf2vec.config.encoder.embed_dim)
        self.nf2vec, self.nerf2clip, self.device = nf2vec, nerf2clip, device
        self.batch_size, self.read_workers = batch_size, 4
        self.bank, self.k = bank, min(k, len(bank.texts))
        self.bank_vectors = l2_normalize(bank.vectors)

    def _results(self, got) -> list[Description]:  # type: ignore[override]
        from clip2nerf.nf2vec import embed_matrices
        from clip2nerf.utils.embeddings import l2_normalize

        emb = embed_matrices(self.nf2vec, got.matrices, batch_size=min(self.batch_size, 128),
                             device=self.device).numpy()
        sims = l2_normalize(self.nerf2clip.map(emb)) @ self.bank_vectors.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :self.k]
        b = self.bank
        return [Description(p, oid, cls, [(b.texts[j], float(sims[r, j]), b.classes[j])
                                          for j in top[r]])
                for r, (p, oid, cls) in enumerate(zip(got.paths, got.ids, got.classes,
                                                      strict=True))]


def colour_words(text: str) -> list[str]:
    """The palette colour names a sentence mentions, in order."""
    from clip2nerf.data.synth.palette import PALETTE

    names = sorted(PALETTE, key=len, reverse=True)
    pattern = r"\b(" + "|".join(re.escape(n) for n in names) + r")\b"
    return re.findall(pattern, text.lower())


def describe_scores(descriptions: Sequence[Description], truth_colours: Sequence[Sequence[str]],
                    truth_captions: Sequence[str]) -> dict[str, float]:
    """How often the best caption is right: its class (the class of the object it describes
    equals the NeRF's class), its main colour (its first colour word is the first colour word
    of the NeRF's own caption), and the precision of its colour words (each one among the
    object's part colours)."""
    n = len(descriptions)
    if n == 0:
        raise UserError("no descriptions to score")
    cls = main = hits = words = 0
    for d, colours, own in zip(descriptions, truth_colours, truth_captions, strict=True):
        best, _, best_cls = d.captions[0]
        cls += best_cls == d.stored_class
        said, true_words = colour_words(best), colour_words(own)
        main += bool(said and true_words and said[0] == true_words[0])
        hits += sum(w in set(colours) for w in said)
        words += len(said)
    return {"n": n, "class": cls / n, "main_colour": main / n,
            "colour_precision": hits / words if words else 0.0}
