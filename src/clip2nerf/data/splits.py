"""Stratified train/val/test splits by object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Objects of one class per split. Every split gets at least one object when ``n >= 3``
    (val and test first take ``round(fraction * n)``, at least 1; train keeps the rest, >= 1)."""
    if n <= 0:
        return (0, 0, 0)
    f_val, f_test = fractions[1], fractions[2]
    n_val = max(1 if f_val > 0 else 0, int(round(f_val * n)))
    n_test = max(1 if f_test > 0 else 0, int(round(f_test * n)))
    while n_val + n_test > n - 1 and (n_val or n_test):
        # Too few objects for all three splits: train first, then val, then test.
        if n_test >= n_val and n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    return (n - n_val - n_test, n_val, n_test)


def stratified_splits(ids_by_class: Mapping[str, Sequence[str]], seed: int = 0,
                      fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    """Split each class's objects by ``fractions`` (train, val, test); a seeded shuffle per class.

    Returns ``{"train": [...], "val": [...], "test": [...]}``, each sorted.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    out: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    for k, cls in enumerate(sorted(ids_by_class)):
        ids = sorted(ids_by_class[cls])
        order = np.random.default_rng([seed, 7919, k]).permutation(len(ids))
        n_train, n_val, _ = split_counts(len(ids), fractions)
        for rank, j in enumerate(order):
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            out[split].append(ids[j])
    return {s: sorted(v) for s, v in out.items()}
