"""Joining embeddings shards by streaming: the same table as ``EmbeddingTable.concat``, with
one shard's vectors in memory at a time."""

import tracemalloc

import numpy as np
import pytest

from clip2nerf.errors import UserError
from clip2nerf.utils.embeddings import EmbeddingTable
from clip2nerf.utils.embeddings_join import join_embedding_files


def _parts(tmp_path, n_parts=4, rows=2000, dim=256, shape=None):
    rng = np.random.default_rng(0)
    tables, paths = [], []
    for p in range(n_parts):
        ids = [f"o{p}_{i}" for i in range(rows)]
        vec = rng.normal(size=(rows, *(shape or ()), dim)).astype(np.float32)
        t = EmbeddingTable(vec, ids, [f"c{i % 3}" for i in range(rows)], "nf2vec:t",
                           {"sources": [f"{i}.safetensors" for i in ids], "note": "same"})
        t.save(tmp_path / f"shard-{p:05d}.safetensors")
        tables.append(t)
        paths.append(tmp_path / f"shard-{p:05d}.safetensors")
    return tables, paths


@pytest.mark.parametrize("shape", [None, (3,)])
def test_join_equals_concat_and_holds_one_shard(tmp_path, shape):
    tables, paths = _parts(tmp_path, shape=shape)
    out = tmp_path / "joined.safetensors"
    tracemalloc.start()
    head = join_embedding_files(paths, out, expect_space="nf2vec:t")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    got, want = EmbeddingTable.load(out), EmbeddingTable.concat(tables)
    assert (got.ids, got.labels, got.space, got.extra) == (want.ids, want.labels, want.space,
                                                           want.extra)
    np.testing.assert_array_equal(got.vectors, want.vectors)
    assert head.ids == want.ids and head.shape == want.vectors.shape
    shard_bytes = tables[0].vectors.nbytes
    assert peak < 2.5 * shard_bytes < want.vectors.nbytes  # not the joined matrix


def test_join_refuses_mixed_shards(tmp_path):
    _, paths = _parts(tmp_path, n_parts=2, rows=4, dim=8)
    other = tmp_path / "other.safetensors"
    EmbeddingTable(np.ones((1, 8), np.float32), ["x"], [""], "nf2vec:u").save(other)
    with pytest.raises(UserError, match="different spaces"):
        join_embedding_files([*paths, other], tmp_path / "o.safetensors")
    with pytest.raises(UserError, match="duplicate ids"):
        join_embedding_files([paths[0], paths[0]], tmp_path / "o.safetensors")
    with pytest.raises(UserError, match="is in use"):
        join_embedding_files(paths, tmp_path / "o.safetensors", expect_space="nf2vec:v")
    assert not (tmp_path / "o.safetensors").exists()
