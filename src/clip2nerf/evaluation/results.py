"""The evaluation's results as typed values: one frozen dataclass per table and row kind.

``EvalResults.to_dict()`` is exactly what ``results.json`` holds (keys in the same order,
optional keys left out rather than written as ``null``) and ``EvalResults.from_dict`` reads it
back: recall dicts have integer ``k`` in memory and string keys in JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OMITTED_AT_DEFAULT = {"omit_at_default": True}
"""Field metadata: the key is left out of the JSON while the field holds its default (rows
that do not have it)."""


def _optional(default: Any = None) -> Any:
    return field(default=default, metadata=OMITTED_AT_DEFAULT)


def _row_dict(row: Any) -> dict[str, Any]:
    """A row's fields in declaration order, without the optional ones at their default."""
    out = {}
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        if f.metadata.get("omit_at_default") and value == f.default:
            continue
        out[f.name] = value
    return out


def _row_from(cls: type, d: dict[str, Any], **converted: Any) -> Any:
    """``cls`` from a JSON object: its fields by name (``converted`` ones replaced)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in d.items() if k in names}, **converted})


def _recall(d: dict[Any, float]) -> dict[int, float]:
    """recall@k by integer k (JSON object keys are strings)."""
    return {int(k): v for k, v in d.items()}


@dataclass(frozen=True)
class ZeroShotRow:
    """A row of Table 1: one zero-shot classification method."""

    method: str
    supervision: bool
    rendering: bool
    views: int | None
    """Rendered views per NeRF (VLM baselines); ``None`` for methods on the weights."""
    accuracy: float
    ms: float
    """Time per NeRF."""
    file_io: bool = _optional(False)
    """Reading the NeRF file is included in ``ms``."""
    nerfs_per_s: float | None = _optional()
    """Throughput of the batched row."""


@dataclass(frozen=True)
class ViewsAblationRow:
    """A row of Table 2: nerf2clip trained on ``views`` views of ``source``."""

    source: str
    views: int
    accuracy: float
    val_accuracy: float | None = _optional()
    """On the val split, when val is not evaluated (model selection)."""


@dataclass(frozen=True)
class ZeroShotResults:
    """Table 1 / Fig. 4 and Table 2."""

    table1: tuple[ZeroShotRow, ...]
    table2: tuple[ViewsAblationRow, ...]
    chosen_views: dict[str, int]
    """nerf2clip's training views per source (``gt``, ``rendered``)."""
    classes: tuple[str, ...]
    selection: str
    n_test: int
    timed_nerfs: int

    def to_dict(self) -> dict[str, Any]:
        return {"table1": [_row_dict(r) for r in self.table1],
                "table2": [_row_dict(r) for r in self.table2],
                "chosen_views": dict(self.chosen_views), "classes": list(self.classes),
                "selection": self.selection, "n_test": self.n_test,
                "timed_nerfs": self.timed_nerfs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZeroShotResults:
        return _row_from(cls, d, table1=tuple(_row_from(ZeroShotRow, r) for r in d["table1"]),
                         table2=tuple(_row_from(ViewsAblationRow, r) for r in d["table2"]),
                         classes=tuple(d["classes"]))


@dataclass(frozen=True)
class RetrievalRow:
    """A row of Table 3: image -> NeRF retrieval with one gallery."""

    method: str
    recall: dict[int, float]
    """recall@k; a k wider than the gallery is left out."""
    ms: float
    """Time per query."""
    mb: float
    """Gallery size."""
    rows: int
    """Gallery rows."""


@dataclass(frozen=True)
class PaperScaleRow:
    """A row of Table 3 repeated at the paper's gallery size (no recall)."""

    method: str
    objects: int
    rows: int
    ms: float
    mb: float


@dataclass(frozen=True)
class SingleViewResults:
    """Table 3 (and its rows at the paper's gallery size, when measured)."""

    table3: tuple[RetrievalRow, ...]
    n_queries: int
    query_views: tuple[int, ...]
    ceiling: float
    """Best reachable recall: queries whose class has another object in the gallery."""
    table3_paper_scale: tuple[PaperScaleRow, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"table3": [_row_dict(r) for r in self.table3], "n_queries": self.n_queries,
               "query_views": list(self.query_views), "ceiling": self.ceiling}
        if self.table3_paper_scale is not None:
            out["table3_paper_scale"] = [_row_dict(r) for r in self.table3_paper_scale]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SingleViewResults:
        scale = d.get("table3_paper_scale")
        return _row_from(
            cls, d, query_views=tuple(d["query_views"]),
            table3=tuple(_row_from(RetrievalRow, r, recall=_recall(r["recall"]))
                         for r in d["table3"]),
            table3_paper_scale=None if scale is None else tuple(
                _row_from(PaperScaleRow, r) for r in scale))


@dataclass(frozen=True)
class MultiViewPoint:
    """A point of Fig. 7: recall@k with ``views`` query views."""

    views: int
    recall: dict[int, float]


@dataclass(frozen=True)
class MultiViewResults:
    """Fig. 7: a curve of points per method."""

    fig7: dict[str, tuple[MultiViewPoint, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"fig7": {m: [_row_dict(p) for p in pts] for m, pts in self.fig7.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiViewResults:
        return cls({m: tuple(MultiViewPoint(p["views"], _recall(p["recall"])) for p in pts)
                    for m, pts in d["fig7"].items()})


@dataclass(frozen=True)
class TextRow:
    """A row of Table 5: text -> NeRF retrieval."""

    method: str
    recall: dict[int, float]


@dataclass(frozen=True)
class TextResults:
    """Table 5."""

    table5: tuple[TextRow, ...]
    skipped: str | None = None
    """Why there are no rows (a dataset without captions), else None."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"table5": [_row_dict(r) for r in self.table5]}
        if self.skipped is not None:
            d["skipped"] = self.skipped
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextResults:
        return cls(tuple(TextRow(r["method"], _recall(r["recall"])) for r in d["table5"]),
                   d.get("skipped"))


@dataclass(frozen=True)
class EvalMeta:
    """What was evaluated, with what, and how (the report's header)."""

    vlm: str
    vlm_dim: int
    vlm_note: str
    dataset: str
    preset: str
    split: str
    n_objects: int
    n_views: int
    split_sizes: dict[str, int]
    nf2vec_space: str
    nerfs: str
    template: str
    mapper_recipe: str
    timing: str
    command: str
    config: dict[str, Any]
    """``EvalConfig.to_dict()``."""
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return _row_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalMeta:
        return _row_from(cls, d)


@dataclass(frozen=True)
class EvalResults:
    """Every table's numbers; ``meta`` and ``findings`` once the run is described."""

    zero_shot: ZeroShotResults
    single_view: SingleViewResults
    multi_view: MultiViewResults
    text: TextResults
    meta: EvalMeta | None = None
    findings: tuple[str, ...] = ()
    syn2real: dict[str, Any] | None = None
    """The Table 4 analogue (``syn2real.syn2real_retrieval``), when run."""

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` object."""
        out: dict[str, Any] = {"zero_shot": self.zero_shot.to_dict(),
                               "single_view": self.single_view.to_dict(),
                               "multi_view": self.multi_view.to_dict(),
                               "text": self.text.to_dict()}
        if self.meta is not None:
            out["meta"] = self.meta.to_dict()
            out["findings"] = list(self.findings)
        if self.syn2real is not None:
            out["syn2real"] = self.syn2real
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResults:
        """Read a ``results.json`` object."""
        meta = d.get("meta")
        return cls(ZeroShotResults.from_dict(d["zero_shot"]),
                   SingleViewResults.from_dict(d["single_view"]),
                   MultiViewResults.from_dict(d["multi_view"]), TextResults.from_dict(d["text"]),
                   None if meta is None else EvalMeta.from_dict(meta),
                   tuple(d.get("findings", ())), d.get("syn2real"))


__all__ = [
    "EvalMeta",
    "EvalResults",
    "MultiViewPoint",
    "MultiViewResults",
    "PaperScaleRow",
    "RetrievalRow",
    "SingleViewResults",
    "TextResults",
    "TextRow",
    "ViewsAblationRow",
    "ZeroShotResults",
    "ZeroShotRow",
]
