"""What ``clip2nerf eval`` reads, where it caches, and how it measures.

Workdir layout: ``clip2nerf.workdir`` (shared with the demo, the tour and the service). The
evaluation reads W/data, W/nerfs and W/nf2vec (each can be given explicitly instead), makes
what is missing of W/emb, W/rendered and W/mappers, and writes W/report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clip2nerf.classes import ZERO_SHOT_TEMPLATE

# The former names of these workdir paths (relative strings), for callers that import them.
from clip2nerf.workdir import (  # noqa: F401
    DATA,
    EMB_CAPTIONS,
    EMB_NERF,
    EMB_VIEWS_GT,
    EMB_VIEWS_RENDERED,
    MAPPERS,
    NERFS,
    NF2VEC,
    RENDERED,
    REPORT,
    Workdir,
)


@dataclass
class EvalPaths:
    """Inputs and the cache/output folder of one evaluation run."""

    workdir: Path
    """Cache and output folder (layout: ``clip2nerf.workdir.Workdir``)."""
    data: Path | None = None
    """Dataset folder [default: W/data]."""
    nerfs: Path | None = None
    """Folder of fitted NeRF files [default: W/nerfs]."""
    nf2vec: Path | None = None
    """Trained nf2vec model folder [default: W/nf2vec]."""
    rendered: Path | None = None
    """Views rendered from the NeRFs [default: W/rendered]; another evaluation's folder is
    reused as it is (objects already rendered are skipped)."""

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.layout = Workdir(self.workdir)  # every path of W (the inputs may lie elsewhere)
        self.data = Path(self.data) if self.data else self.layout.data
        self.nerfs = Path(self.nerfs) if self.nerfs else self.layout.nerfs
        self.nf2vec = Path(self.nf2vec) if self.nf2vec else self.layout.nf2vec
        self.rendered = Path(self.rendered) if self.rendered else self.layout.rendered_views

    def __getitem__(self, rel: str) -> Path:
        return self.workdir / rel


@dataclass
class EvalConfig:
    """How the experiments run. Defaults follow the paper's protocols."""

    vlm: Any = "zeroshot"
    """``--vlm`` spec of the vision-language model (see ``clip2nerf vlm --help``), or a loaded
    ``VisionLanguageModel``."""
    split: str = "test"
    """Objects evaluated (gallery and queries): ``test``, ``val`` or ``val+test``. Mappers train
    on ``train``; nerf2clip's view count is selected on ``val`` unless val is evaluated (then N).
    ``val+test`` is for small datasets whose test split has one object per class, where no
    query would have a same-class object left once its own is excluded."""
    views: tuple[int, ...] = (1, 2, 4, 8, 16)
    """View counts of the baselines and ablations; N (all views) is always added."""
    template: str = ZERO_SHOT_TEMPLATE
    """Zero-shot prompt (paper §5)."""
    seed: int = 0
    """Seeds the random query views and the baselines' random view subsets."""
    clip2nerf_epochs: int | None = None
    """Override the paper's 150 epochs of clip2nerf (``None`` = paper)."""
    nerf2clip_epochs: int | None = None
    """Override the paper's 100 epochs of nerf2clip (``None`` = paper)."""
    clip2nerf_lr: float | None = None
    """Override the paper's clip2nerf peak learning rate, 1e-5 (``None`` = paper)."""
    nerf2clip_lr: float | None = None
    """Override the paper's nerf2clip peak learning rate (``None`` = paper)."""
    timing_objects: int = 3
    """NeRFs (and queries) timed per method; each time is the median over ``timing_repeats``."""
    timing_repeats: int = 3
    """Repeats per timed call (median), after one warm-up call."""
    throughput_files: int = 1000
    """NeRF files in the folder classified by Table 1's batched row (copies of the evaluated
    NeRFs' files in a temporary folder); 0 leaves the row out."""
    paper_gallery_objects: int = 4000
    """Objects per gallery in Table 3's timing at the paper's scale (the evaluated objects'
    gallery rows repeated up to this many objects); 0 leaves it out. About the paper's test
    gallery: its Table 3 sizes (8 MB of 512-d CLIP means, 271 MB of 36 views each, 15 MB of
    1024-d nf2vec rows, float32) each give 3.7k-3.9k objects."""
    render_samples: int = 128
    """Samples along the box diagonal when rendering views from NeRFs (baselines, 'rendered')."""
    render_resolution: int | None = 64
    """Size in pixels of the views rendered from NeRFs (the 'rendered' rows and the timed VLM
    baselines); None = the dataset's view size. 64 = the size our NeRFs are fitted at
    (``FitConfig.image_size``): a NeRF holds no detail finer than its training rays, and
    rendering the dataset's 128 px costs 4x (420 vs 100 CPU-s on small) for an interpolation
    that the VLM's own resize does as well. The VLM resizes every view to its input size."""
    device: str = "cpu"
    """Torch device of the whole run."""
    syn2real: bool = False
    """Also run the Table 4 analogue (``evaluation.syn2real``): photo-style queries, clip2nerf
    trained with and without photo-style augmentation (cached in ``W/syn2real``)."""
    controlnet_views: str | None = None
    """syn2real: an ``augment controlnet --split train`` folder, for the ControlNet rows."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free notes recorded in results.json."""

    def to_dict(self) -> dict[str, Any]:
        vlm = self.vlm if isinstance(self.vlm, str) else getattr(self.vlm, "name", str(self.vlm))
        return asdict(replace(self, vlm=vlm))
