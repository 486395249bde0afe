"""Training pairs for the mapping networks, built from embedding tables (arrays in/out).

clip2nerf: every view embedding (and, multimodal, every caption embedding) of an object is one
input whose target is that object's NeRF embedding; extra views (augmented images of training
objects, e.g. ``clip2nerf augment photo`` embedded with ``vlm embed-views``) add one pair each,
as the paper's 7 renders + 7 ControlNet images per object (§6.1). nerf2clip: each NeRF embedding's target is
the mean of ``n_views`` of its view embeddings, a subset drawn once per object from the seed
(paper Table 2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.mapping.config import MapperConfig
from clip2nerf.utils.embeddings import EmbeddingTable


@dataclass
class PairSet:
    """Aligned (input, target) rows.

    Attributes:
        inputs: (n_pairs, in_dim) float32.
        object_targets: (n_objects, out_dim) float32, one target per object (not normalised;
            the loss is cosine); pair ``i``'s target is ``object_targets[object_index[i]]``
            (held once per object, not once per view: at the paper's 31k training objects x
            36 views a per-pair copy of the 1024-d NeRF targets would be 4.6 GB).
        object_index: (n_pairs,) int64, row of the pair's object in ``ids``.
        ids: object ids, n_objects.
        labels: class names, n_objects.
        target_gallery: (n_objects, out_dim) float32, one target-space vector per object
            (NeRF embedding, or mean of all view embeddings), for validation retrieval.
    """

    inputs: np.ndarray
    object_targets: np.ndarray
    object_index: np.ndarray
    ids: list[str]
    labels: list[str]
    target_gallery: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def targets(self) -> np.ndarray:
        """(n_pairs, out_dim) float32: every pair's target (a new array; training gathers
        batches from ``object_targets`` instead)."""
        return self.object_targets[self.object_index]


def ids_fingerprint(ids: list[str]) -> str:
    """SHA-1 of the ordered ids: a resumed run must train on the same objects."""
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()


def _views3d(table: EmbeddingTable, what: str) -> np.ndarray:
    """(n, d) is read as one view per object; returns (n, v, d)."""
    v = table.vectors
    return v[:, None, :] if v.ndim == 2 else v


def check_extra_views(config: MapperConfig, views: EmbeddingTable, extra: EmbeddingTable,
                      train_ids: list[str]) -> None:
    """Extra views must be clip2nerf inputs in the views' VLM space, of training objects only
    (an augmented image of a val/test object in training would leak it)."""
    if config.direction != "clip2nerf":
        raise UserError("--extra-views adds clip2nerf training pairs; drop it for nerf2clip")
    if extra.space != views.space:
        raise UserError(f"--extra-views holds {extra.space!r} embeddings but the views are "
                        f"{views.space!r}; embed both with the same VLM")
    if extra.dim != views.dim:
        raise UserError(f"--extra-views embeddings have size {extra.dim}, views {views.dim}")
    if not np.isfinite(extra.vectors).all():
        raise UserError("--extra-views embeddings contain NaN or infinity")
    outside = sorted(set(extra.ids) - set(train_ids))
    if outside:
        raise UserError(f"--extra-views holds {len(outside)} objects outside the training ids "
                        f"(e.g. {outside[0]}); augment only the train split "
                        "(`clip2nerf augment photo --split train`)")


def check_tables(config: MapperConfig, nerf: EmbeddingTable, views: EmbeddingTable,
                 captions: EmbeddingTable | None = None) -> None:
    """Refuse tables whose shapes or spaces do not match the config."""
    if not nerf.space.startswith("nf2vec"):
        raise UserError(f"--nerf-emb holds {nerf.space!r} embeddings, expected an nf2vec space")
    if nerf.vectors.ndim != 2:
        raise UserError(f"NeRF embeddings ({nerf.space}) must be (n, d), got "
                        f"{nerf.vectors.shape}")
    if not views.space.startswith("vlm"):
        raise UserError(f"--view-emb holds {views.space!r} embeddings, expected a vlm space")
    config.check_compatible(vlm_space=views.space, vlm_dim=views.dim,
                            nf2vec_space=nerf.space, nf2vec_dim=nerf.dim)
    if captions is not None:
        if captions.space != views.space:
            raise UserError(f"caption embeddings are {captions.space!r} but view embeddings "
                            f"are {views.space!r}; embed both with the same VLM")
        if captions.dim != views.dim:
            raise UserError(f"caption embeddings have size {captions.dim}, views {views.dim}")
    for t in (nerf, views) + ((captions,) if captions is not None else ()):
        _check_vectors(t)


def _check_vectors(t: EmbeddingTable, chunk: int = 65536) -> None:
    """Finite, and no vector all zero; checked ``chunk`` vectors at a time, so that the check
    of a large view table does not hold a temporary of its size."""
    flat = t.vectors.reshape(-1, t.dim)
    per_object = len(flat) // max(len(t), 1)
    zero, first = 0, None
    for start in range(0, len(flat), chunk):
        part = flat[start:start + chunk]
        if not np.isfinite(part).all():
            raise UserError(f"{t.space} embeddings contain NaN or infinity")
        empty = np.flatnonzero(~part.any(axis=-1))
        if len(empty) and first is None:
            first = (start + int(empty[0])) // per_object
        zero += len(empty)
    if zero:
        raise UserError(f"{t.space} embeddings: {zero} vectors are all zero (e.g. object "
                        f"{t.ids[first]!r}); a zero vector has no direction to learn from: "
                        "re-embed those objects")


def build_pairs(config: MapperConfig, nerf: EmbeddingTable, views: EmbeddingTable,
                ids: list[str], captions: EmbeddingTable | None = None,
                subset_views: bool = True, extra_views: EmbeddingTable | None = None) -> PairSet:
    """Pairs for ``ids`` (missing ids are a UserError naming them).

    ``subset_views=False`` makes nerf2clip targets the mean of *all* views (used for
    validation, so that runs with different ``n_views`` are compared on the same target).
    """
    if not ids:
        raise UserError("no objects to train on (empty id list)")
    nerf = nerf.subset(ids)
    v = _views3d(views.subset(ids), "views")
    n, n_views_avail, _ = v.shape
    labels = nerf.labels if any(nerf.labels) else views.subset(ids).labels
    obj = np.arange(n, dtype=np.int64)
    if config.direction == "clip2nerf":
        inputs = [v.reshape(n * n_views_avail, -1)]
        index = [np.repeat(obj, n_views_avail)]
        if config.multimodal:
            if captions is None:
                raise UserError("multimodal clip2nerf needs caption embeddings (--caption-emb)")
            c = _views3d(captions.subset(ids), "captions")
            inputs.append(c.reshape(n * c.shape[1], -1))
            index.append(np.repeat(obj, c.shape[1]))
        if extra_views is not None:
            pos = {oid: k for k, oid in enumerate(ids)}
            ev = _views3d(extra_views, "extra views")
            for row, oid in enumerate(extra_views.ids):
                if oid in pos:
                    inputs.append(ev[row])
                    index.append(np.full(ev.shape[1], pos[oid], dtype=np.int64))
        object_index = np.concatenate(index)
        x = inputs[0] if len(inputs) == 1 else np.concatenate(inputs)
        return PairSet(x, nerf.vectors.copy(), object_index, list(ids), labels,
                       nerf.vectors.copy())
    k = config.n_views or n_views_avail
    if k > n_views_avail:
        raise UserError(f"--views {k}: the view embeddings hold only {n_views_avail} views "
                        "per object")
    full_mean = v.mean(axis=1)
    if subset_views and k < n_views_avail:
        # One fixed subset per object for the whole run, drawn from the seed (paper Table 2).
        rng = np.random.default_rng(config.train.seed)
        picks = np.stack([np.sort(rng.choice(n_views_avail, k, replace=False)) for _ in range(n)])
        targets = np.take_along_axis(v, picks[:, :, None], axis=1).mean(axis=1)
    else:
        targets = full_mean
    return PairSet(nerf.vectors.copy(), targets.astype(np.float32), obj, list(ids), labels,
                   full_mean.astype(np.float32))
