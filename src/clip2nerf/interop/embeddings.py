"""nf2vec embeddings with captions, as the reference data ships them -> ``EmbeddingTable``.

ShapeNeRF-Text (read as LLaNA reads it, ``llana/data/object_nerf_dataset.py::ObjectNeRFDataset``):
``ROOT/<split>/vecs/<object_id>.npy`` holds one nf2vec embedding, shape (1024,) or (1, 1024),
and ``ROOT/<split>/texts/conversations_brief.json`` a list of ``{"object_id", "conversations":
[{"from": "human", "value": "<point>\\n..."}, {"from": "gpt", "value": caption}, ...]}``. The
caption of an object is the first ``gpt`` answer of its brief description. ``object_id`` is the
ShapeNet model id; its class comes from an imported NeRF folder when given (our ids are
``<class>_<model id>``), else it is unknown ("").

nf2vec's own exports (``nerf2vec/export_embeddings.py``, read by clip2nerf
``dataset/utils.py::NerfEmbeddings``): ``ROOT/<split>/<i>.h5`` with datasets ``embedding``
(1024,), ``class_id`` (index into nf2vec's 13 synsets) and ``data_dir`` (the NeRF folder).
Reading them needs ``h5py`` (``pip install 'clip2nerf[paper]'``).

The vectors are the reference encoder's raw outputs, so their space is the imported reference
nf2vec model's (``clip2nerf import nf2vec``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.data.shapenet import SYNSET_TO_CLASS
from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.utils.io import resolve_inside

NF2VEC_SYNSETS = ["02691156", "02828884", "02933112", "02958343", "03001627", "03211117",
                  "03636649", "03691459", "04090263", "04256520", "04379243", "04401088",
                  "04530566"]
"""nf2vec's ``LABELS_TO_IDS`` order (``nerf2vec/config.py``): class_id -> synset."""


def _vector(arr: np.ndarray, where: str) -> np.ndarray:
    v = np.asarray(arr, dtype=np.float32).reshape(-1)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise UserError(f"{where}: expected one finite embedding vector, got shape "
                        f"{np.shape(arr)}")
    return v


def _first_answer(conversations: Any) -> str:
    if isinstance(conversations, list):
        for turn in conversations:
            if isinstance(turn, dict) and turn.get("from") == "gpt":
                return str(turn.get("value", "")).strip()
    return ""


def read_shapenerf_text(root: str | Path, split: str, space: str,
                        classes: dict[str, tuple[str, str]] | None = None,
                        vecs: str = "vecs", texts: str = "texts"
                        ) -> tuple[EmbeddingTable, dict[str, str]]:
    """One split of ShapeNeRF-Text.

    Args:
        space: the nf2vec space of the vectors (the imported reference model's ``space``).
        classes: model id -> (our object id, class name), e.g. from ``classes_from_nerfs``.
    Returns:
        ``(table, captions)``: nf2vec embeddings (ids = our object ids where known, else the
        model ids) and ``{id: caption}``.
    """
    base = Path(root) / split
    anno = base / texts / "conversations_brief.json"
    if not anno.is_file():
        raise UserError(f"{anno} not found (expected ShapeNeRF-Text: "
                        f"<root>/{split}/{texts}/conversations_brief.json)")
    try:
        items = json.loads(anno.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{anno}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise UserError(f"{anno}: expected a JSON list of conversations")
    classes = classes or {}
    ids, labels, vectors, captions = [], [], [], {}
    seen: set[str] = set()
    for it in items:
        if not isinstance(it, dict) or "object_id" not in it:
            continue
        model_id = str(it["object_id"])
        if model_id in seen:
            continue
        seen.add(model_id)
        npy = resolve_inside(base / vecs, f"{model_id}.npy", f"{anno}: object_id")
        if not npy.is_file():
            raise UserError(f"{npy} not found (ShapeNeRF-Text lists {model_id} in {anno})")
        vectors.append(_vector(np.load(npy, allow_pickle=False), str(npy)))
        oid, cls = classes.get(model_id, (model_id, ""))
        ids.append(oid)
        labels.append(cls)
        captions[oid] = _first_answer(it.get("conversations"))
    if not ids:
        raise UserError(f"{anno}: no objects")
    table = EmbeddingTable(np.stack(vectors), ids, labels, space,
                           {"splits": [split] * len(ids), "source": str(base)})
    return table, captions


def read_nf2vec_h5(root: str | Path, split: str, space: str) -> EmbeddingTable:
    """nf2vec's exported embeddings ``ROOT/<split>/*.h5`` (ids ``<class>_<model id>``)."""
    try:
        import h5py
    except ImportError:
        raise UserError("reading .h5 embeddings needs h5py: pip install 'clip2nerf[paper]'"
                        ) from None
    folder = Path(root) / split
    files = sorted(folder.glob("*.h5"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise UserError(f"{folder}: no *.h5 embedding files")
    ids, labels, vectors = [], [], []
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                emb = np.array(f["embedding"])
                class_id = int(np.array(f["class_id"]).reshape(-1)[0])
                data_dir = np.array(f["data_dir"]).reshape(-1)[0]
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{path}: not an nf2vec embedding file ({exc})") from None
        if isinstance(data_dir, bytes):
            data_dir = data_dir.decode("utf-8")
        parts = Path(str(data_dir)).parts
        if not 0 <= class_id < len(NF2VEC_SYNSETS) or len(parts) < 1:
            raise UserError(f"{path}: bad class_id {class_id} or data_dir {data_dir!r}")
        cls = SYNSET_TO_CLASS[NF2VEC_SYNSETS[class_id]]
        ids.append(f"{cls}_{parts[-1]}")
        labels.append(cls)
        vectors.append(_vector(emb, str(path)))
    return EmbeddingTable(np.stack(vectors), ids, labels, space,
                          {"splits": [split] * len(ids), "source": str(folder)})


def classes_from_nerfs(nerfs: str | Path) -> dict[str, tuple[str, str]]:
    """model id -> (object id, class) from an imported NeRF folder's manifest."""
    from clip2nerf.nerf.manifest import read_manifest

    data = read_manifest(Path(nerfs))
    if data is None:
        raise UserError(f"{nerfs}: no manifest.json (import the NeRFs first)")
    out = {}
    for oid, entry in data.get("objects", {}).items():
        cls = str(entry.get("class_name", ""))
        model_id = oid[len(cls) + 1:] if cls and oid.startswith(f"{cls}_") else oid
        out[model_id] = (oid, cls)
    return out


__all__ = ["NF2VEC_SYNSETS", "classes_from_nerfs", "read_nf2vec_h5", "read_shapenerf_text"]
