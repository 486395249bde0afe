"""The layout of a workdir (``clip2nerf demo``, ``clip2nerf eval``, the tour, the service) and
the names of the mapping networks trained in it.

One place owns every artefact path, so the demo, the evaluation, the tour, the catalogue and
the benchmarks cannot disagree on where a thing lives::

    W/data/                        the dataset (clip2nerf format)
    W/nerfs/                       <object_id>.safetensors, one fitted NeRF per object
    W/nf2vec/                      trained nf2vec model folder
    W/vlm/                         the demo's VLM: the zero-shot pretrained model's config
                                   (``eval`` takes any ``--vlm``)
    W/vlm-adapted/                 the adapted VLM (a head fitted on the train split's views)
    W/adapted/                     the evaluation with the adapted VLM (a Workdir of its own:
                                   emb/, mappers/, report/; data, NeRFs, nf2vec and rendered
                                   views are the parent's)
    W/emb/nerf.safetensors         nf2vec embeddings of every NeRF
    W/emb/views-gt/                VLM embeddings of the ground-truth views
    W/rendered/                    the dataset's views rendered from the NeRFs
    W/emb/views-rendered/          VLM embeddings of the rendered views
    W/emb/captions.safetensors     VLM embeddings of the captions (n, 1, d)
    W/mappers/<MapperSpec.folder_name>/   mapping networks trained on the train split
    W/report/                      report.md, results.json, PNG figures (ensemble.md)
    W/syn2real/                    the Table 4 analogue's augmented views and embeddings
    W/gallery/                     faiss gallery of the evaluated NeRFs (the demo's)
    W/tour/                        PNG strips of the tour's results (and its caches)
    W/catalogue/                   the served catalogue's versions (``clip2nerf.serve``)
    W/ensemble/member-<m>/         ensemble member m >= 1 (``demo --ensemble``): its own nf2vec/,
                                   emb/nerf.safetensors, mappers/ and .stages/ (a Workdir)
    W/.stages/<stage>.json         finished-stage markers (``clip2nerf.pipeline``)

Adding a mapper variant: a field of :class:`MapperSpec` (and its part of the folder name);
adding an artefact: a constant and a property of :class:`Workdir`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Paths relative to the workdir (the layout above). Folder names written by every clip2nerf
# so far: renaming one orphans the artefacts of existing workdirs.
DATA = "data"
NERFS = "nerfs"
NF2VEC = "nf2vec"
VLM = "vlm"
VLM_ADAPTED = "vlm-adapted"
ADAPTED = "adapted"
VLM_COMPARISON = "vlm-comparison.md"
EMB_NERF = "emb/nerf.safetensors"
EMB_VIEWS_GT = "emb/views-gt"
EMB_VIEWS_RENDERED = "emb/views-rendered"
EMB_CAPTIONS = "emb/captions.safetensors"
RENDERED = "rendered"
MAPPERS = "mappers"
REPORT = "report"
SYN2REAL = "syn2real"
GALLERY = "gallery"
TOUR = "tour"
CATALOGUE = "catalogue"
ENSEMBLE = "ensemble"
ENSEMBLE_REPORT = "ensemble.md"
STAGES = ".stages"

Direction = Literal["clip2nerf", "nerf2clip"]
ViewSource = Literal["gt", "rendered"]

_FOLDER_RE = re.compile(r"^(clip2nerf|nerf2clip)-(gt|rendered)(?:-([1-9][0-9]*))?(-multimodal)?$")


@dataclass(frozen=True)
class MapperSpec:
    """Which mapping network: the variant fields that name its folder in ``W/mappers``.

    Folder names (``folder_name`` and ``from_folder_name`` are inverse)::

        clip2nerf-gt   clip2nerf-rendered   clip2nerf-gt-multimodal
        nerf2clip-gt-<n>   nerf2clip-rendered-<n>
    """

    direction: Direction
    """``clip2nerf`` (VLM -> nf2vec) or ``nerf2clip`` (nf2vec -> VLM)."""
    views: ViewSource
    """Views whose VLM embeddings it trains on: ``gt`` (dataset views) or ``rendered`` (views
    rendered from the NeRFs)."""
    n_views: int | None = None
    """nerf2clip: views averaged into each training target (the dataset's N = all views);
    ``None`` for clip2nerf (every view is one training pair)."""
    multimodal: bool = False
    """clip2nerf: also trains on caption embeddings (paper §5, text retrieval)."""

    def __post_init__(self) -> None:
        if self.direction not in ("clip2nerf", "nerf2clip"):
            raise ValueError(f"mapper direction {self.direction!r}: clip2nerf or nerf2clip")
        if self.views not in ("gt", "rendered"):
            raise ValueError(f"mapper views {self.views!r}: gt or rendered")
        if self.direction == "nerf2clip":
            if not isinstance(self.n_views, int) or self.n_views < 1:
                raise ValueError(f"a nerf2clip mapper needs a view count >= 1, got "
                                 f"{self.n_views!r}")
            if self.multimodal:
                raise ValueError("only clip2nerf mappers are multimodal")
        elif self.n_views is not None:
            raise ValueError("a clip2nerf mapper has no view count (every view is a pair)")

    @property
    def folder_name(self) -> str:
        """The mapper's folder under ``W/mappers``, e.g. ``nerf2clip-gt-12``."""
        parts = [self.direction, self.views]
        if self.n_views is not None:
            parts.append(str(self.n_views))
        if self.multimodal:
            parts.append("multimodal")
        return "-".join(parts)

    @classmethod
    def from_folder_name(cls, name: str) -> MapperSpec:
        """The spec of a ``W/mappers`` folder name; ``ValueError`` for any other name."""
        m = _FOLDER_RE.match(name)
        if m is None:
            raise ValueError(f"{name!r} is not a mapper folder name (e.g. clip2nerf-gt, "
                             "nerf2clip-gt-12)")
        direction, views, n, multimodal = m.groups()
        return cls(direction, views,  # type: ignore[arg-type]
                   int(n) if n else None, bool(multimodal))

    @property
    def label(self) -> str:
        """Its row name in the report, e.g. ``clip2nerf GT multimodal``."""
        text = f"{self.direction} {'GT' if self.views == 'gt' else 'rendered'}"
        return text + (" multimodal" if self.multimodal else "")

    def __str__(self) -> str:
        return self.folder_name


def clip2nerf_spec(views: ViewSource = "gt", multimodal: bool = False) -> MapperSpec:
    return MapperSpec("clip2nerf", views, None, multimodal)


def nerf2clip_spec(views: ViewSource, n_views: int) -> MapperSpec:
    return MapperSpec("nerf2clip", views, n_views)


SEARCH_MAPPER = clip2nerf_spec("gt", multimodal=True)
"""The clip2nerf the tour and the served catalogue search with (text and images)."""


@dataclass(frozen=True)
class Workdir:
    """Every artefact path of one workdir (see the module docstring for the layout)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def __truediv__(self, rel: str) -> Path:
        return self.root / rel

    # inputs and models
    @property
    def data(self) -> Path:
        return self.root / DATA

    @property
    def nerfs(self) -> Path:
        return self.root / NERFS

    @property
    def nf2vec(self) -> Path:
        return self.root / NF2VEC

    @property
    def vlm(self) -> Path:
        return self.root / VLM

    @property
    def vlm_adapted(self) -> Path:
        return self.root / VLM_ADAPTED

    @property
    def adapted(self) -> Workdir:
        """The evaluation with the adapted VLM (its own embeddings, mappers and report)."""
        return Workdir(self.root / ADAPTED)

    # embeddings and rendered views
    @property
    def nerf_embeddings(self) -> Path:
        return self.root / EMB_NERF

    @property
    def gt_view_embeddings(self) -> Path:
        return self.root / EMB_VIEWS_GT

    @property
    def rendered_views(self) -> Path:
        return self.root / RENDERED

    @property
    def rendered_view_embeddings(self) -> Path:
        return self.root / EMB_VIEWS_RENDERED

    def view_embeddings(self, views: ViewSource) -> Path:
        return self.gt_view_embeddings if views == "gt" else self.rendered_view_embeddings

    @property
    def caption_embeddings(self) -> Path:
        return self.root / EMB_CAPTIONS

    # mapping networks
    @property
    def mappers(self) -> Path:
        return self.root / MAPPERS

    def mapper(self, spec: MapperSpec) -> Path:
        """The folder of one mapping network."""
        return self.mappers / spec.folder_name

    def mapper_specs(self) -> list[MapperSpec]:
        """The mapper folders present (finished or not), sorted by folder name; other
        folders are ignored."""
        if not self.mappers.is_dir():
            return []
        out = []
        for p in sorted(self.mappers.iterdir()):
            if p.is_dir():
                try:
                    out.append(MapperSpec.from_folder_name(p.name))
                except ValueError:
                    continue
        return out

    def nerf2clip_most_views(self, views: ViewSource = "gt") -> MapperSpec | None:
        """The nerf2clip of ``views`` trained on the most views (the tour's and the
        service's choice), or ``None``."""
        specs = [s for s in self.mapper_specs() if s.direction == "nerf2clip" and s.views == views]
        return max(specs, key=lambda s: s.n_views or 0) if specs else None

    # outputs
    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def syn2real(self) -> Path:
        return self.root / SYN2REAL

    @property
    def gallery(self) -> Path:
        return self.root / GALLERY

    @property
    def tour(self) -> Path:
        return self.root / TOUR

    @property
    def catalogue(self) -> Path:
        return self.root / CATALOGUE

    @property
    def ensemble_report(self) -> Path:
        """Members alone and the ensemble (``clip2nerf demo --ensemble K``)."""
        return self.report / ENSEMBLE_REPORT

    @property
    def vlm_comparison(self) -> Path:
        """The zero-shot and adapted VLMs' findings side by side (the demo's)."""
        return self.report / VLM_COMPARISON

    def ensemble_member(self, m: int) -> Workdir:
        """Ensemble member ``m``'s workdir: the workdir itself for 0, ``W/ensemble/member-m``
        after it (only its models and their NeRF embeddings live there)."""
        if m < 0:
            raise ValueError(f"ensemble member {m}: must be >= 0")
        return self if m == 0 else Workdir(self.root / ENSEMBLE / f"member-{m}")

    @property
    def stages(self) -> Path:
        """Finished-stage markers of ``clip2nerf.pipeline.StageRunner``."""
        return self.root / STAGES
