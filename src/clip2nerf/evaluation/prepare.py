"""The artefacts the experiments read, made once and cached in the workdir (resumable stages).

Every step is a ``clip2nerf.pipeline.Stage`` cached by its outputs: embeddings, rendered views
and mappers already in the workdir are checked (space, ids, config) and kept; the rest is
computed with the stage packages' own APIs. Paths: ``clip2nerf.workdir``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.evaluation.config import EvalConfig, EvalPaths
from clip2nerf.pipeline import Stage, StageRunner
from clip2nerf.utils.embeddings import EmbeddingTable, load_embeddings
from clip2nerf.workdir import MapperSpec, clip2nerf_spec, nerf2clip_spec


@dataclass
class Artefacts:
    """Everything the experiments need, loaded."""

    dataset: Any
    """The dataset (``clip2nerf.data.dataset.Dataset``)."""
    nf2vec: Any
    vlm: Any
    nerf: EmbeddingTable
    """(n_objects, 1024) nf2vec embeddings, ``extra["sources"]`` = NeRF files."""
    views_gt: EmbeddingTable
    """(n_objects, N, d) VLM embeddings of the ground-truth views."""
    views_rendered: EmbeddingTable
    """(n_objects, N, d) VLM embeddings of the views rendered from the NeRFs."""
    captions: EmbeddingTable | None
    """(n_objects, 1, d) VLM embeddings of the captions; ``extra["texts"]`` the captions.
    None when some object has no caption (an nf2vec / ShapeNetRender tree): Table 5 and the
    multimodal mapper are then left out."""
    splits: dict[str, list[str]]
    """train / val / test object ids (those with a NeRF)."""
    mappers: dict[str, Any]
    """``MapperSpec.folder_name`` -> FeatureMapper: clip2nerf-{gt,rendered,gt-multimodal},
    nerf2clip-{gt,rendered}-{n} (look one up with ``mapper(spec)``)."""
    n_views: int
    """N, views per object."""

    def mapper(self, spec: MapperSpec) -> Any:
        """The trained mapper of ``spec``."""
        return self.mappers[spec.folder_name]


def view_counts(cfg: EvalConfig, n_views: int) -> list[int]:
    """The configured view counts that fit, plus N."""
    return sorted({v for v in cfg.views if 1 <= v < n_views} | {n_views})


def mapper_specs(counts: list[int]) -> list[MapperSpec]:
    """The mappers the experiments use: clip2nerf on GT and rendered views, multimodal on GT;
    nerf2clip on GT and rendered views with each view count."""
    specs = [clip2nerf_spec("gt"), clip2nerf_spec("rendered"), clip2nerf_spec("gt", True)]
    return specs + [nerf2clip_spec(src, n) for src in ("gt", "rendered") for n in counts]


def prepare(paths: EvalPaths, cfg: EvalConfig, log: Callable[[str], None] = print,
            progress: bool = True) -> Artefacts:
    """Load every artefact from the workdir, making those missing or made for other inputs."""
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import load_vlm

    for what, p in (("--data", paths.data), ("--nerfs", paths.nerfs), ("--nf2vec", paths.nf2vec)):
        if not p.exists():
            raise UserError(f"{what} {p}: not found (give it explicitly or put it in the workdir)")
    ds = open_dataset(paths.data)
    nf2vec = Nf2vec.from_pretrained(paths.nf2vec, cfg.device)
    vlm = load_vlm(cfg.vlm, device=cfg.device) if isinstance(cfg.vlm, str) else cfg.vlm
    runner = StageRunner(paths.workdir, echo=log)
    nerf = embed_nerfs_stage(runner, nf2vec, paths.nerfs, paths.layout.nerf_embeddings,
                             cfg.device, progress)
    ids = [i for i in ds.object_ids() if i in set(nerf.ids)]
    if not ids:
        raise UserError(f"no object of {paths.data} has a NeRF in {paths.nerfs}")
    nerf = nerf.subset(ids)
    splits = _evaluated_splits(ds, ids, cfg.split, paths.data)
    views_gt, views_rendered = _view_embeddings(runner, paths, cfg, vlm, ids, log, progress)
    caps = _caption_embeddings(runner, ds, ids, nerf.labels, vlm,
                               paths.layout.caption_embeddings, log)
    n_views = int(views_gt.vectors.shape[1])
    mappers = {spec.folder_name: mapper_stage(spec, paths, cfg, runner, nerf, views_gt,
                                              views_rendered, caps, splits, n_views, progress)
               for spec in mapper_specs(view_counts(cfg, n_views))
               if caps is not None or not spec.multimodal}
    return Artefacts(ds, nf2vec, vlm, nerf, views_gt, views_rendered, caps, splits, mappers,
                     n_views)


def _evaluated_splits(ds, ids: list[str], split: str, data: Path) -> dict[str, list[str]]:
    """train / val / test (and ``split`` when it is val+test) ids among ``ids``; refuses an
    evaluated or training split of fewer than 2 objects."""
    splits = {s: [i for i in _split_ids(ds, s) if i in set(ids)] for s in ("train", "val", "test")}
    if split not in ("test", "val", "val+test"):
        raise UserError(f"--split {split!r}: expected test, val or val+test (the mappers "
                        "train on train)")
    if split == "val+test":  # both held-out splits, for datasets with tiny test splits
        splits[split] = sorted(splits["val"] + splits["test"])
    for s in ("train", split):
        if len(splits[s]) < 2:
            raise UserError(f"{data}: split {s!r} has {len(splits[s])} objects with NeRFs; "
                            "the evaluation needs at least 2")
    return splits


def _embed_views(data: Path, out: Path, vlm: Any, log: Callable[[str], None],
                 progress: bool) -> Callable[[], int]:
    """A stage's run: the VLM's embeddings of every view of ``data`` into ``out``."""
    from clip2nerf.vlm import embed_views

    def run() -> int:
        from clip2nerf.vlm.pretrained import FEATURE_CACHE

        # Pretrained towers keep each view's features for this process: the adapted
        # model's evaluation then re-reads them instead of running the network again.
        # The image tower is the one large model here: it gets the cores for this step.
        with all_cores(), FEATURE_CACHE.active():
            return len(embed_views(data, out, vlm, progress=progress, log=log, overwrite=True))
    return run


def _has_embeddings(out: Path, vlm: Any, ids: list[str]) -> Callable[[], bool]:
    """A stage's done check: ``out`` holds ``vlm``'s embeddings of every object of ``ids``."""
    def ok() -> bool:
        try:
            t = load_embeddings(out, expect_space=vlm.space)
        except UserError:
            return False
        return set(ids) <= set(t.ids)
    return ok


def _view_embeddings(runner: StageRunner, paths: EvalPaths, cfg: EvalConfig, vlm: Any,
                     ids: list[str], log: Callable[[str], None], progress: bool
                     ) -> tuple[EmbeddingTable, EmbeddingTable]:
    """The VLM's embeddings of the ground-truth views and of the views rendered from the
    NeRFs (rendered first where missing), of ``ids``."""
    w = paths.layout
    runner.run(Stage("embed-views-gt", f"{vlm.name} embeddings of the ground-truth views",
                     _embed_views(paths.data, w.gt_view_embeddings, vlm, log, progress),
                     done=_has_embeddings(w.gt_view_embeddings, vlm, ids)))

    def render() -> dict:
        from clip2nerf.nerf.render_dataset import render_dataset

        with all_cores():  # ray marching thousands of views: the stage's big job
            render_dataset(paths.nerfs, paths.data, paths.rendered, ids=ids,
                           resolution=cfg.render_resolution, n_samples=cfg.render_samples,
                           device=cfg.device, progress=progress)
        return {"n": len(ids)}

    # The rendered views are needed only to embed them: both steps are done once their
    # embeddings are.
    rendered_ok = _has_embeddings(w.rendered_view_embeddings, vlm, ids)
    runner.run(Stage("render-views", "render every dataset view from the NeRFs", render,
                     done=rendered_ok))
    runner.run(Stage("embed-views-rendered", f"{vlm.name} embeddings of the rendered views",
                     _embed_views(paths.rendered, w.rendered_view_embeddings, vlm, log,
                                  progress), done=rendered_ok))
    return (load_embeddings(w.gt_view_embeddings, expect_space=vlm.space).subset(ids),
            load_embeddings(w.rendered_view_embeddings, expect_space=vlm.space).subset(ids))


def _caption_embeddings(runner: StageRunner, ds, ids: list[str], labels: list[str], vlm: Any,
                        out: Path, log: Callable[[str], None]) -> EmbeddingTable | None:
    """The VLM's (n, 1, d) embeddings of the captions of ``ids``, made once into ``out``;
    None (said in the log) when an object has no caption, as in every nf2vec tree."""
    done = _has_embeddings(out, vlm, ids)
    texts: list[str] = []
    if not done():  # read every object's metadata only when the embeddings are to be made
        texts = [ds.get(i).caption or "" for i in ids]
        empty = [i for i, t in zip(ids, texts, strict=True) if not t.strip()]
        if empty:
            log(f"{len(empty)} objects have no caption (e.g. {empty[0]}): Table 5 (text "
                "retrieval) and the multimodal clip2nerf are left out")
            return None

    def captions() -> dict:
        emb = vlm.embed_texts(texts)[:, None, :]
        EmbeddingTable(emb, ids, labels, vlm.space, {"texts": texts}).save(out)
        return {"n": len(ids)}

    runner.run(Stage("embed-captions", f"{vlm.name} embeddings of the captions", captions,
                     done=done))
    return load_embeddings(out, expect_space=vlm.space).subset(ids)


@contextmanager
def all_cores():
    """Torch threads = the cores (at most 2) inside the block, the caller's count after it: the
    evaluation runs its many small models on one thread, its two large jobs on all."""
    import torch

    from clip2nerf.utils.threads import default_threads, set_threads

    threads = torch.get_num_threads()
    set_threads(max(threads, default_threads(cap=2)))
    try:
        yield
    finally:
        set_threads(threads)


def embed_nerfs_stage(runner: StageRunner, nf2vec: Any, nerfs: Path, out: Path, device: str,
                      progress: bool, what: str = "nf2vec embeddings of every NeRF"
                      ) -> EmbeddingTable:
    """The nf2vec embeddings of every NeRF file in ``nerfs`` as the stage ``embed-nerfs`` of
    ``runner``, cached while ``out`` holds this model's embeddings of exactly these files."""
    from clip2nerf.nf2vec import embed_nerfs
    from clip2nerf.nf2vec.nerfs import find_nerf_files

    def embed() -> dict:
        table = embed_nerfs(nf2vec, nerfs, device=device, progress=progress)
        table.save(out)
        return {"n": len(table)}

    def embedded() -> bool:
        try:
            table = load_embeddings(out, expect_space=nf2vec.space)
        except UserError:
            return False
        files = {str(p) for p in find_nerf_files(nerfs)}
        return set(table.extra.get("sources", [])) == files

    runner.run(Stage("embed-nerfs", what, embed, done=embedded))
    return load_embeddings(out, expect_space=nf2vec.space)


def _split_ids(ds, split: str) -> list[str]:
    try:
        return ds.object_ids(split)
    except UserError:
        return []


def mapper_stage(spec: MapperSpec, paths: EvalPaths, cfg: EvalConfig, runner: StageRunner,
                 nerf, views_gt, views_rendered, caps, splits, n_views: int, progress: bool):
    """Load ``W/mappers/<spec.folder_name>`` if trained for these models and data, else
    train it."""
    import shutil

    from clip2nerf.mapping import FeatureMapper, MapperConfig, TrainConfig, train_mapper
    from clip2nerf.mapping.data import ids_fingerprint
    from clip2nerf.mapping.train import is_trained

    direction, multimodal = spec.direction, spec.multimodal
    views = views_gt if spec.views == "gt" else views_rendered
    epochs = cfg.clip2nerf_epochs if direction == "clip2nerf" else cfg.nerf2clip_epochs
    lr = cfg.clip2nerf_lr if direction == "clip2nerf" else cfg.nerf2clip_lr
    # nerf2clip on all N views is stored as "every view" (n_views None), as before.
    config = MapperConfig(direction=direction, vlm_space=views.space, vlm_dim=views.dim,
                          nf2vec_space=nerf.space, nf2vec_dim=nerf.dim, views_source=spec.views,
                          n_views=None if spec.n_views == n_views else spec.n_views,
                          multimodal=multimodal,
                          train=TrainConfig.paper(direction, epochs=epochs, lr=lr,
                                                  seed=cfg.seed))
    folder = paths.layout.mapper(spec)
    expected = {**config.to_dict(), "train_ids_sha1": ids_fingerprint(splits["train"])}
    loaded: list[Any] = []

    def trained_for_these_inputs() -> bool:
        # Weights and config.json are written only when training ends: present = finished.
        if not is_trained(folder):
            return False
        model = FeatureMapper.from_pretrained(folder, device=cfg.device)
        if model.config.to_dict() == expected:
            loaded.append(model)
            return True
        runner.echo(f"{folder}: trained with other settings or data; retraining")
        shutil.rmtree(folder)
        return False

    def train() -> dict:
        args = (config, nerf, views, splits["train"], splits["val"] or None,
                caps if multimodal else None, folder, cfg.device)
        try:
            res = train_mapper(*args, progress=progress)  # resumes an interrupted run
        except UserError:
            # A checkpoint of other settings or data: start this mapper over.
            shutil.rmtree(folder)
            res = train_mapper(*args, progress=progress)
        last = res.history[-1] if res.history else {}
        return {k: v for k, v in last.items() if isinstance(v, float) and np.isfinite(v)}

    name = spec.folder_name
    runner.run(Stage(f"train-{name}", f"train {name} ({config.train.epochs} epochs, lr "
                     f"{config.train.lr:g}) on {len(splits['train'])} objects", train,
                     done=trained_for_these_inputs))
    return loaded[0] if loaded else FeatureMapper.from_pretrained(folder, device=cfg.device)
