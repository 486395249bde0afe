import time

import numpy as np
import pytest

from clip2nerf.index import accuracy, classify_1nn, ms_per_item, recall_at_k, time_call


def test_recall_at_k_hand_values():
    q = ["a", "b", "c"]
    r = np.array([["b", "a", "a"], ["b", "c", "c"], ["a", "b", "a"]], dtype=object)
    assert recall_at_k(q, r, ks=(1, 2, 3)) == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3),
                                               3: pytest.approx(2 / 3)}


def test_recall_at_k_matches_brute_force_on_random_labels():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 4, 200).astype(str)
    r = rng.integers(0, 4, (200, 10)).astype(str)
    got = recall_at_k(list(q), r)
    for k in (1, 5, 10):
        ref = sum(any(r[i, j] == q[i] for j in range(k)) for i in range(200)) / 200
        assert got[k] == pytest.approx(ref)


def test_recall_refuses_k_beyond_neighbours():
    with pytest.raises(ValueError, match="recall@5 needs at least 5"):
        recall_at_k(["a"], np.array([["a", "b"]], dtype=object))


def test_accuracy_and_classify_1nn():
    prompts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    classes = ["car", "chair", "lamp"]
    queries = np.array([[5, 1, 0], [0.1, 0.2, 3], [0, 2, 1.9]], np.float32)
    pred, sims = classify_1nn(queries, prompts, classes)
    assert pred == ["car", "lamp", "chair"]
    assert sims.shape == (3, 3)
    np.testing.assert_allclose(sims[0, 0], 5 / np.sqrt(26), atol=1e-6)
    assert accuracy(pred, ["car", "lamp", "lamp"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        classify_1nn(queries, prompts[:, :2], classes)
    with pytest.raises(ValueError):
        accuracy(["a"], ["a", "b"])


def test_timing_median_ignores_one_slow_run():
    delays = iter([0.0, 0.001, 0.001, 0.2, 0.001, 0.001])

    def fn():
        time.sleep(next(delays))

    t = time_call(fn, repeats=5, warmup=1)
    assert 0.0005 < t < 0.1
    assert ms_per_item(lambda: None, n_items=10, repeats=3) < 1.0
