"""Ensembles of nf2vec models in one workdir (issue 13): members, their mappers, their figures.

One model's weights-only figures hang on nf2vec's seed (on ``small``: labels 62-85% over
seeds), while averaging a few independently trained models' outputs holds steady. Member 0 is
the workdir's own model (``W/nf2vec``, ``W/mappers``); member ``m`` (1 ... K-1) is trained with
seed ``seed + m`` into ``W/ensemble/member-m/`` (its own ``nf2vec/``, ``emb/nerf.safetensors``
and the three mappers the applications use, in ``clip2nerf.workdir``'s layout). The views,
captions and VLM are the workdir's, shared by every member.

``ensemble_results`` measures each member alone and the ensemble on the evaluated split, with
Table 3's and Table 5's queries, so the rows compare like for like; ``write_ensemble_report``
writes them to ``W/report/ensemble.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.apps.ensemble import EnsembleMember
from clip2nerf.errors import UserError
from clip2nerf.evaluation.config import EvalConfig, EvalPaths
from clip2nerf.evaluation.prepare import Artefacts, embed_nerfs_stage, mapper_stage
from clip2nerf.pipeline import StageRunner
from clip2nerf.workdir import MapperSpec, clip2nerf_spec, nerf2clip_spec


def member_seed(seed: int, m: int) -> int:
    """Member ``m``'s seed: nf2vec's initialisation and batches, and its mappers'."""
    return seed + m


def member_specs(n_views: int) -> list[MapperSpec]:
    """The mappers a member needs: nerf2clip on all GT views (labels), clip2nerf on GT views
    (image and text search) and its multimodal variant (text search)."""
    return [nerf2clip_spec("gt", n_views), clip2nerf_spec("gt"), clip2nerf_spec("gt", True)]


def prepare_member(art: Artefacts, paths: EvalPaths, m: int, cfg: EvalConfig,
                   train_nf2vec: Callable[[Path, int], Any], log: Callable[[str], None] = print,
                   progress: bool = False) -> tuple[EnsembleMember, EnsembleMember]:
    """Train (or load) member ``m >= 1`` of the workdir whose artefacts are ``art``.

    ``train_nf2vec(folder, seed)`` trains (or resumes, or finds finished) an nf2vec model in
    ``folder`` with the workdir's recipe. Each step is cached in the member's folder. Returns
    the member with its clip2nerf mapper, and with its multimodal one.
    """
    _require_captions(art)
    from clip2nerf.nf2vec import Nf2vec

    if m < 1:
        raise ValueError("member 0 is the workdir's own model")
    mw = paths.layout.ensemble_member(m)
    nerf_dir = paths.layout.nerfs if paths.nerfs is None else paths.nerfs
    seed = member_seed(cfg.seed, m)
    train_nf2vec(mw.nf2vec, seed)
    nf2vec = Nf2vec.from_pretrained(mw.nf2vec, cfg.device)
    runner = StageRunner(mw.root, echo=log)

    nerf = embed_nerfs_stage(runner, nf2vec, nerf_dir, mw.nerf_embeddings, cfg.device,
                             progress, f"member {m}: nf2vec embeddings of every NeRF"
                             ).subset(art.nerf.ids)
    member_paths = EvalPaths(mw.root, data=paths.data, nerfs=nerf_dir, nf2vec=mw.nf2vec)
    member_cfg = dataclasses.replace(cfg, seed=seed)
    mappers = {spec.folder_name: mapper_stage(spec, member_paths, member_cfg, runner, nerf,
                                              art.views_gt, art.views_rendered, art.captions,
                                              art.splits, art.n_views, progress)
               for spec in member_specs(art.n_views)}
    return _members(nerf.vectors, mappers, art.n_views)


def _require_captions(art: Artefacts) -> None:
    # Each member's multimodal mapper and the text recall need captions: refuse before any
    # member is trained (an nf2vec tree has none; its single-model report leaves Table 5 out).
    if art.captions is None:
        raise UserError("the dataset's objects have no captions; an ensemble's multimodal "
                        "mappers and text recall need them")


def _members(vectors: np.ndarray, mappers: dict[str, Any], n_views: int
             ) -> tuple[EnsembleMember, EnsembleMember]:
    n2c = mappers[nerf2clip_spec("gt", n_views).folder_name]
    return (EnsembleMember(vectors, n2c, mappers[clip2nerf_spec("gt").folder_name]),
            EnsembleMember(vectors, n2c, mappers[clip2nerf_spec("gt", True).folder_name]))


def own_member(art: Artefacts) -> tuple[EnsembleMember, EnsembleMember]:
    """Member 0: the workdir's own nf2vec embeddings and mappers."""
    _require_captions(art)
    return _members(art.nerf.vectors, art.mappers, art.n_views)


def ensemble_results(art: Artefacts, cfg: EvalConfig,
                     members: Sequence[tuple[EnsembleMember, EnsembleMember]]) -> dict[str, Any]:
    """Each member alone and the ensemble of all, on ``cfg.split``: zero-shot labels
    (nerf2clip), image -> NeRF recall@1 with Table 3's queries (one random GT view per object)
    and text -> NeRF recall@1 with Table 5's (captions; clip2nerf and multimodal), each query's
    own object excluded."""
    from clip2nerf.apps import prompt_embeddings
    from clip2nerf.apps.ensemble import ensemble_scores, ensemble_zero_shot_labels
    from clip2nerf.evaluation.experiments import view_orders
    from clip2nerf.index import accuracy
    from clip2nerf.utils.recall import nearest_others, recall_at_k

    ids = art.splits[cfg.split]
    rows_of = [art.nerf.ids.index(i) for i in ids]
    labels = np.asarray(art.nerf.subset(ids).labels, dtype=object)
    gt = art.views_gt.subset(ids).vectors
    pick = view_orders(len(ids), art.n_views, cfg.seed, salt=3)[:, 0]  # Table 3's queries
    q_img = gt[np.arange(len(ids)), pick]
    q_txt = art.captions.subset(ids).vectors[:, 0]
    classes = list(art.dataset.classes)
    prompts = prompt_embeddings(art.vlm, classes, cfg.template)

    def on_split(member: EnsembleMember) -> EnsembleMember:
        return EnsembleMember(member.nerf_vectors[rows_of], member.nerf2clip, member.clip2nerf)

    def r1(scores: np.ndarray) -> float:
        return recall_at_k(list(labels), labels[nearest_others(scores, np.arange(len(ids)), 1)],
                           (1,))[1]

    def figures(group: Sequence[tuple[EnsembleMember, EnsembleMember]]) -> dict[str, float]:
        plain = [on_split(g[0]) for g in group]
        multi = [on_split(g[1]) for g in group]
        pred, _ = ensemble_zero_shot_labels(plain, prompts, classes)
        return {"labels": accuracy(pred, list(labels)),
                "image_r1": r1(ensemble_scores(plain, q_img)),
                "text_r1": r1(ensemble_scores(plain, q_txt)),
                "text_r1_multimodal": r1(ensemble_scores(multi, q_txt))}

    rows = [{"model": f"member {m} alone (seed {member_seed(cfg.seed, m)})",
             "nf2vec": g[0].nerf2clip.config.nf2vec_space if g[0].nerf2clip else "",
             **figures([g])}
            for m, g in enumerate(members)]
    if len(members) > 1:
        rows.append({"model": f"ensemble of the {len(members)} members", "nf2vec": "all above",
                     **figures(members)})
    return {"split": cfg.split, "n": len(ids), "members": len(members), "vlm": art.vlm.name,
            "rows": rows}


def write_ensemble_report(path: Path, results: dict[str, Any], command: str = "") -> Path:
    """``W/report/ensemble.md``: the members alone and the ensemble, one row each."""
    from clip2nerf.utils.io import atomic_write_text

    n = results["n"]
    lines = [f"# Ensemble of {results['members']} nf2vec models — split {results['split']} "
             f"({n} objects)", "",
             "Each member is an nf2vec model trained with its own seed, with its own nerf2clip "
             "and clip2nerf mappers (`clip2nerf.evaluation.ensemble`). The ensemble labels a "
             "NeRF by the mean of the members' nerf2clip outputs and ranks NeRFs by the mean "
             "of the members' cosine scores (each member maps the query into its own nf2vec "
             "space). Not in the paper, which trains one nf2vec model on ~31k NeRFs: with a "
             "few dozen training NeRFs one model's figures hang on its seed (issue 13).", "",
             f"VLM: `{results['vlm']}` (what it is: report.md). One NeRF is "
             f"{100 / max(n, 1):.1f} points. Image queries: Table 3's (one random "
             "ground-truth view per object); text queries: Table 5's (captions); each query's "
             "own object excluded.", "",
             "| Model | nf2vec | Zero-shot labels (%) | Image R@1 | Text R@1 | Text R@1 "
             "(multimodal) |",
             "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['model']} | {r['nf2vec']} | {100 * r['labels']:.1f} | "
                     f"{100 * r['image_r1']:.1f} | "
                     f"{100 * r['text_r1']:.1f} | {100 * r['text_r1_multimodal']:.1f} |")
    if command:
        lines += ["", f"Command: `{command}`"]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


__all__ = ["member_seed", "member_specs", "prepare_member",
           "own_member", "ensemble_results", "write_ensemble_report"]
