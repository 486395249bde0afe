"""Table 4 analogue: retrieval from photo-style queries, clip2nerf trained with and without
photo-style (and, where its images exist, ControlNet) augmentation (paper §6.1).

The paper's queries are real DomainNet photos and its augmentation 7 ControlNet images per
object. Here, offline: the queries are a held-out photo-style set (``augment photo`` of the
evaluated objects, on photos training never uses) and the augmentation is ``augment photo`` of
the training objects on the training photos (+ ``augment controlnet`` output when given).

Cached in ``W/syn2real/`` (augmented folders and their embeddings; both commands resume);
the mappers are retrained each run (seconds) with one recipe for every row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.workdir import Workdir

KS = (1, 5, 10)


def _flat(table: EmbeddingTable) -> tuple[np.ndarray, list[str], list[str]]:
    v = table.vectors
    k = v.shape[1]
    return (v.reshape(-1, v.shape[-1]), [i for i in table.ids for _ in range(k)],
            [c for c in table.labels for _ in range(k)])


def _recall(gallery, q, ids, labels) -> dict[int, float]:
    # tiny galleries have fewer neighbours than 10: those ks are left out (shown as "-")
    return gallery.recall(q, ids, labels, KS, too_wide="omit")


def syn2real_retrieval(workdir: str | Path, data: str | Path, vlm, nerf: EmbeddingTable,
                       views_gt: EmbeddingTable, split: str = "test", views_per_object: int = 7,
                       seed: int = 0, epochs: int = 10, lr: float = 1e-3,
                       controlnet_views: str | Path | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rows of recall@1/5/10 (in [0, 1]) for photo-style and clean queries of ``split``.

    ``views_gt``: the VLM's (n, v, d) embeddings of every object's clean views (the mappers'
    training inputs and the VLM-gallery baselines). ``controlnet_views``: an ``augment
    controlnet --split train`` folder; adds the "+ ControlNet" rows.
    """
    from clip2nerf.augment.backgrounds import HELDOUT_PHOTOS, TRAIN_PHOTOS
    from clip2nerf.data.layouts import open_dataset

    if views_gt.space != vlm.space:
        raise UserError(f"view embeddings are {views_gt.space!r} but the VLM is {vlm.space!r}")
    ds = open_dataset(data)
    evals = split.split("+")
    eval_ids = [i for s in evals for i in ds.object_ids(s)]
    t0 = time.perf_counter()
    emb = _augmented_embeddings(Workdir(workdir).syn2real, data, vlm, ["train", *evals],
                                views_per_object, seed, controlnet_views, log)
    t_prep = time.perf_counter() - t0
    val_ids = None if "val" in evals else (ds.object_ids("val") or None)
    mappers = {name: _train_clip2nerf(vlm, nerf, views_gt, ds.object_ids("train"), val_ids,
                                      extra, epochs, lr, seed)
               for name, extra in _training_variants(emb, vlm.space)}
    photo = EmbeddingTable.concat([emb[s] for s in evals]).subset(eval_ids)
    gt = views_gt.subset(eval_ids)
    clean = _clean_queries(gt, views_per_object, seed)
    rows = _recall_rows(gt, nerf.subset(eval_ids), {name: m for name, (m, _) in mappers.items()},
                        (("photo-style", photo), ("clean", clean)))
    return {"vlm": vlm.name, "split": split, "n_eval_objects": len(eval_ids),
            "n_photo_queries": int(np.prod(photo.vectors.shape[:2])),
            "n_clean_queries": int(np.prod(clean.vectors.shape[:2])),
            "train_pairs": {k: v[1] for k, v in mappers.items()},
            "recipe": {"epochs": epochs, "lr": lr, "seed": seed,
                       "views_per_object": views_per_object},
            "photos": {"train": list(TRAIN_PHOTOS), "heldout": list(HELDOUT_PHOTOS)},
            "prepare_seconds": round(t_prep, 1), "rows": rows}


def _augmented_embeddings(root: Path, data: str | Path, vlm, splits: list[str],
                          views_per_object: int, seed: int,
                          controlnet_views: str | Path | None,
                          log: Callable[[str], None]) -> dict[str, EmbeddingTable]:
    """The VLM's embeddings of ``augment photo`` images of each of ``splits`` (and of the
    ControlNet folder, as ``controlnet``), made under ``root`` or read from there."""
    from clip2nerf.augment import augment_photo
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.vlm.embed_views import embed_views

    emb: dict[str, EmbeddingTable] = {}
    quiet = {"progress": False, "log": log}
    for s in splits:
        tag = f"photo-{s}-seed{seed}-x{views_per_object}"  # one cached folder per setting
        folder = augment_photo(data, root / tag, split=s,
                               views_per_object=views_per_object, seed=seed, **quiet)
        emb[s] = embed_views(folder, root / "emb" / vlm.name / tag, vlm, **quiet)
    if controlnet_views is not None:
        info = open_dataset(controlnet_views).info.get("augment", {})
        if info.get("kind") != "controlnet" or info.get("split") != "train":
            raise UserError(f"--controlnet-views {controlnet_views}: expected the output of "
                            "`clip2nerf augment controlnet --split train`")
        emb["controlnet"] = embed_views(controlnet_views, root / "emb" / vlm.name / "controlnet",
                                        vlm, **quiet)
    return emb


def _training_variants(emb: dict[str, EmbeddingTable], space: str
                       ) -> list[tuple[str, EmbeddingTable | None]]:
    """(row name, extra training views) of each clip2nerf compared: renders only, + photo-style
    and, with ControlNet images, + ControlNet and + both."""
    variants: list[tuple[str, EmbeddingTable | None]] = [("renders only", None),
                                                         ("+ photo-style", emb["train"])]
    if "controlnet" in emb:
        both = np.concatenate  # photo + ControlNet images of each training object
        cn = emb["controlnet"].subset(emb["train"].ids)
        variants += [("+ ControlNet", emb["controlnet"]),
                     ("+ photo-style + ControlNet",
                      EmbeddingTable(both([emb["train"].vectors, cn.vectors], axis=1),
                                     emb["train"].ids, emb["train"].labels, space))]
    return variants


def _train_clip2nerf(vlm, nerf: EmbeddingTable, views_gt: EmbeddingTable, train_ids: list[str],
                     val_ids: list[str] | None, extra: EmbeddingTable | None, epochs: int,
                     lr: float, seed: int) -> tuple[Any, int]:
    """A clip2nerf mapper trained with one recipe (and ``extra`` views): (model, pairs)."""
    from clip2nerf.mapping import MapperConfig, TrainConfig, train_mapper

    cfg = MapperConfig(direction="clip2nerf", vlm_space=vlm.space, vlm_dim=vlm.dim,
                       nf2vec_space=nerf.space, nf2vec_dim=nerf.dim,
                       train=TrainConfig.paper("clip2nerf", epochs=epochs, lr=lr, seed=seed))
    res = train_mapper(cfg, nerf, views_gt, train_ids, val_ids, None, None, progress=False,
                       extra_views=extra)
    return res.model, res.n_train_pairs


def _clean_queries(gt: EmbeddingTable, views_per_object: int, seed: int) -> EmbeddingTable:
    """Random clean views of each evaluated object, as many as its photo-style queries."""
    rng = np.random.default_rng([seed, 4242])
    k = min(views_per_object, gt.vectors.shape[1])
    pick = np.stack([rng.choice(gt.vectors.shape[1], k, replace=False) for _ in gt.ids])
    return EmbeddingTable(np.take_along_axis(gt.vectors, pick[:, :, None], axis=1), gt.ids,
                          gt.labels, gt.space)


def _recall_rows(gt: EmbeddingTable, nerf: EmbeddingTable, mappers: dict[str, Any],
                 queries: tuple[tuple[str, EmbeddingTable], ...]) -> list[dict[str, Any]]:
    """recall@k of each query set against the VLM galleries of ``gt`` and, through each
    mapper, the nf2vec gallery of ``nerf``."""
    from clip2nerf.index import Gallery

    galleries = {"VLM GT mean": Gallery.from_table(gt, "mean"),
                 "VLM GT all": Gallery.from_table(gt, "all")}
    nf = Gallery.from_table(nerf)
    rows = []
    for qname, table in queries:
        q, ids, labels = _flat(table)
        for gname, g in galleries.items():
            rows.append({"queries": qname, "method": gname, "recall": _recall(g, q, ids, labels)})
        for mname, model in mappers.items():
            rows.append({"queries": qname, "method": f"clip2nerf GT {mname}",
                         "recall": _recall(nf, model.map(q), ids, labels)})
    return rows


def syn2real_markdown(result: dict[str, Any]) -> str:
    """The Table 4 analogue as a Markdown section."""
    lines = [
        "## Table 4 analogue: retrieval from photo-style queries (syn2real)", "",
        f"VLM: `{result['vlm']}`. Evaluated objects: {result['n_eval_objects']} "
        f"({result['split']}); queries: {result['n_photo_queries']} photo-style images on "
        f"held-out photos ({', '.join(result['photos']['heldout'])}) and "
        f"{result['n_clean_queries']} clean views. clip2nerf trained on the training objects' "
        f"views, then also on {result['recipe']['views_per_object']} augmented images per "
        f"object (training photos only); recipe {result['recipe']['epochs']} epochs, lr "
        f"{result['recipe']['lr']:g}; training pairs {result['train_pairs']}. Hit = same class, "
        "the query's own object excluded.", "",
        "| queries | method | R@1 | R@5 | R@10 |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        rec = r["recall"]
        lines.append(f"| {r['queries']} | {r['method']} | "
                     + " | ".join(f"{100 * rec[k]:.1f}" if k in rec else "-" for k in KS)
                     + " |")
    return "\n".join(lines) + "\n"
