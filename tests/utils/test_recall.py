"""The one recall@k: the same numbers from a faiss gallery and from a dense score matrix, the
query's own object excluded; a k wider than the neighbours is an error or explicitly left out."""

import numpy as np
import pytest

from clip2nerf.index import Gallery
from clip2nerf.mapping import class_recall_at_1
from clip2nerf.utils.recall import dense_recall_at_k, nearest_others, recall_at_k


def _world(n=24, d=6, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    vec = rng.normal(size=(n, d)).astype(np.float32)
    ids = [f"o{i}" for i in range(n)]
    labels = [f"c{i % classes}" for i in range(n)]
    return vec, ids, labels


def test_gallery_and_dense_recall_agree():
    vec, ids, labels = _world()
    queries = vec + 0.3 * np.random.default_rng(1).normal(size=vec.shape).astype(np.float32)
    g = Gallery.from_vectors(vec, ids, labels, "s")
    faiss_recall = g.recall(queries, ids, labels, (1, 5, 10))
    dense = dense_recall_at_k(queries, vec, np.arange(len(vec)), labels, (1, 5, 10))
    assert faiss_recall == pytest.approx(dense)
    # Queries equal to their own rows: found only if the own object were not excluded.
    assert g.recall(vec, ids, labels, (1,))[1] < 1.0
    assert g.recall(vec, ids, labels, (1,), exclude_self=False)[1] == 1.0


def test_too_wide_k_is_an_error_or_explicitly_left_out():
    vec, ids, labels = _world(n=6, classes=2)
    g = Gallery.from_vectors(vec, ids, labels, "s")
    with pytest.raises(ValueError, match="recall@10 needs at least 10"):
        g.recall(vec, ids, labels, (1, 5, 10))
    got = g.recall(vec, ids, labels, (1, 5, 10), too_wide="omit")
    assert set(got) == {1, 5}  # 5 neighbours once the query's own object is excluded
    assert got[5] == 1.0  # every other object is among them, so its class is too
    rl = np.array([["a", "b"]], dtype=object)
    assert recall_at_k(["b"], rl, (1, 2, 3), too_wide="omit") == {1: 0.0, 2: 1.0}


def test_nearest_others_excludes_own_row_and_keeps_gallery_order_on_ties():
    scores = np.array([[5.0, 1.0, 1.0, 0.0], [1.0, 5.0, 2.0, 2.0]], dtype=np.float32)
    assert nearest_others(scores, np.array([0, 1]), 1).tolist() == [[1], [2]]
    assert nearest_others(scores, np.array([0, 1]), 3).tolist() == [[1, 2, 3], [2, 3, 0]]
    assert scores[0, 0] == 5.0  # the caller's scores are not modified


def test_mapping_validation_recall_is_the_same_metric():
    vec, ids, labels = _world(n=12, classes=3)
    pred = vec[[0, 4, 7]] + 0.1
    own = np.array([0, 4, 7])
    expected = dense_recall_at_k(pred, vec, own, labels, (1,))[1]
    assert class_recall_at_1(pred, own, vec, labels) == expected


@pytest.mark.parametrize("answerable_only", [False, True])
def test_dense_recall_is_the_same_in_chunks(answerable_only):
    # classes of 1 and of several objects: answerable_only drops the single ones' queries
    vec, _, _ = _world(n=30, classes=4)
    labels = [f"c{i % 4}" for i in range(28)] + ["solo1", "solo2"]
    rng = np.random.default_rng(3)
    own = rng.integers(0, len(vec), size=97)
    queries = vec[own] + 0.8 * rng.normal(size=(97, vec.shape[1])).astype(np.float32)
    whole = dense_recall_at_k(queries, vec, own, labels, (1, 5), answerable_only,
                              chunk_rows=10_000)
    assert 0.0 < whole[1] < 1.0  # neither trivial: a chunking slip would show
    for rows in (1, 7, 96):
        assert dense_recall_at_k(queries, vec, own, labels, (1, 5), answerable_only,
                                 chunk_rows=rows) == whole
