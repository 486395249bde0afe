"""nf2vec's .h5 embedding exports and ShapeNeRF-Text, read into embedding tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clip2nerf.errors import UserError
from clip2nerf.interop.embeddings import read_nf2vec_h5, read_shapenerf_text


def test_nf2vec_h5_exports(tmp_path):
    import h5py  # a test dependency ([test] extra)
    folder = tmp_path / "emb" / "test"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 8)).astype(np.float32)
    for i, (cid, model) in enumerate([(0, "a1"), (4, "c7"), (12, "w2")]):
        # As nerf2vec/export_embeddings.py writes them: data_dir, embedding, class_id.
        with h5py.File(folder / f"{i}.h5", "w") as f:
            f.create_dataset("data_dir", data=f"./data/{['02691156', '03001627', '04530566'][i]}/"
                                              f"{model}")
            f.create_dataset("embedding", data=vecs[i])
            f.create_dataset("class_id", data=np.array(cid))
    table = read_nf2vec_h5(tmp_path / "emb", "test", "nf2vec:x@1")
    assert table.ids == ["airplane_a1", "chair_c7", "watercraft_w2"]
    assert table.labels == ["airplane", "chair", "watercraft"]
    assert np.array_equal(table.vectors, vecs) and table.space == "nf2vec:x@1"


def test_shapenerf_text_missing_vector(tmp_path):
    base = tmp_path / "train"
    (base / "texts").mkdir(parents=True)
    (base / "vecs").mkdir()
    (base / "texts" / "conversations_brief.json").write_text(json.dumps(
        [{"object_id": "zz", "conversations": [{"from": "gpt", "value": "x"}]}]))
    with pytest.raises(UserError, match="zz.npy"):
        read_shapenerf_text(tmp_path, "train", "nf2vec:x@1")
    np.save(base / "vecs" / "zz.npy", np.ones(8, np.float32))
    table, caps = read_shapenerf_text(tmp_path, "train", "nf2vec:x@1")
    assert table.ids == ["zz"] and table.labels == [""] and caps == {"zz": "x"}


def test_shapenerf_text_ids_cannot_read_outside_vecs(tmp_path):
    base = tmp_path / "train"
    (base / "texts").mkdir(parents=True)
    (base / "vecs").mkdir()
    np.save(tmp_path / "outside.npy", np.ones(8, np.float32))
    (base / "texts" / "conversations_brief.json").write_text(json.dumps(
        [{"object_id": "../../outside", "conversations": [{"from": "gpt", "value": "x"}]}]))
    with pytest.raises(UserError, match="outside"):
        read_shapenerf_text(tmp_path, "train", "nf2vec:x@1")
