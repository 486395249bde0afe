import numpy as np
import pytest

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable, l2_normalize, load_embeddings


def _table(n=5, d=8, space="vlm:test", start=0):
    rng = np.random.default_rng(start)
    return EmbeddingTable(rng.normal(size=(n, d)).astype(np.float32),
                          [f"obj_{i:04d}" for i in range(start, start + n)],
                          ["chair" if i % 2 else "car" for i in range(n)], space,
                          {"sources": [f"s{i}" for i in range(start, start + n)], "note": "x"})


def test_roundtrip(tmp_path):
    t = _table()
    t.save(tmp_path / "e.safetensors")
    u = EmbeddingTable.load(tmp_path / "e.safetensors")
    np.testing.assert_array_equal(u.vectors, t.vectors)
    assert u.ids == t.ids and u.labels == t.labels and u.space == t.space and u.extra == t.extra


def test_wrong_space_refused(tmp_path):
    _table().save(tmp_path / "e.safetensors")
    with pytest.raises(UserError, match="re-embed"):
        EmbeddingTable.load(tmp_path / "e.safetensors", expect_space="vlm:other")


def test_nan_and_corrupt_refused(tmp_path):
    t = _table()
    t.vectors[0, 0] = np.nan
    t.save(tmp_path / "nan.safetensors")
    with pytest.raises(UserError, match="NaN"):
        EmbeddingTable.load(tmp_path / "nan.safetensors")
    good = tmp_path / "good.safetensors"
    _table().save(good)
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:50])
    with pytest.raises(UserError, match="cut.safetensors"):
        EmbeddingTable.load(tmp_path / "cut.safetensors")


def test_shards_concat_and_subset(tmp_path):
    _table(3, start=0).save(tmp_path / "part-0.safetensors")
    _table(4, start=3).save(tmp_path / "part-1.safetensors")
    t = load_embeddings(tmp_path)
    assert len(t) == 7 and t.ids[3] == "obj_0003"
    np.testing.assert_array_equal(t.vectors, np.concatenate([_table(3, start=0).vectors,
                                                             _table(4, start=3).vectors]))
    assert t.labels == _table(3).labels + _table(4).labels
    assert t.extra["sources"][6] == "s6" and t.extra["note"] == "x"
    s = t.subset(["obj_0005", "obj_0001"])
    np.testing.assert_array_equal(s.vectors[0], t.vectors[5])
    assert s.extra["sources"] == ["s5", "s1"]
    with pytest.raises(UserError, match="obj_9999"):
        t.subset(["obj_9999"])


def test_shards_of_different_shapes_are_named(tmp_path):
    _table(3, start=0).save(tmp_path / "part-0.safetensors")
    _table(4, d=6, start=3).save(tmp_path / "part-1.safetensors")
    with pytest.raises(UserError, match=r"shards of different shapes \[\(6,\), \(8,\)\]"):
        load_embeddings(tmp_path)
    _table(4, start=3, space="vlm:other").save(tmp_path / "part-1.safetensors")
    with pytest.raises(UserError, match="different spaces"):
        load_embeddings(tmp_path)


def test_l2_normalize():
    x = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    # float32 output vs float64 literals: 0.6 and 0.8 are one float32 rounding away (6e-8).
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
