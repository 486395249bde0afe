"""Synthetic linked embedding tables for the mapping tests and benchmarks (no NeRFs, no VLM).

A test helper, not part of the library: tests in this folder import it as ``linked_tables``;
benchmarks put this folder on ``sys.path`` first.

Each object has a latent code ``z`` drawn around its class centre. Its "NeRF embedding" is a
fixed random nonlinear function of ``z``; its "view embeddings" are another such function of
``z`` plus per-view noise (the viewpoint); its "caption" a third one (text sits apart from
images in a VLM space). A mapper that learns the link retrieves objects of the right class.
"""

from __future__ import annotations

import numpy as np

from clip2nerf.utils.embeddings import EmbeddingTable, l2_normalize


def _random_mlp(rng: np.random.Generator, d_in: int, d_out: int, hidden: int = 256):
    w1 = rng.normal(0, 1 / np.sqrt(d_in), (d_in, hidden)).astype(np.float32)
    b1 = rng.normal(0, 0.5, hidden).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, d_out)).astype(np.float32)
    return lambda z: np.tanh(z @ w1 + b1) @ w2


def linked_tables(n_classes: int = 13, per_class: int = 20, n_views: int = 36,
                  vlm_dim: int = 64, nf2vec_dim: int = 1024, latent_dim: int = 16,
                  class_spread: float = 1.0, object_spread: float = 0.5,
                  view_noise: float = 0.3, seed: int = 0,
                  ) -> tuple[EmbeddingTable, EmbeddingTable, EmbeddingTable]:
    """NeRF (n, nf2vec_dim), view (n, n_views, vlm_dim) and caption (n, vlm_dim) tables.

    Ids are ``obj00000``...; labels ``class00``...; spaces ``nf2vec:synthetic`` and
    ``vlm:synthetic``. View and caption vectors are L2-normalised, like a VLM's.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, class_spread, (n_classes, latent_dim))
    cls = np.repeat(np.arange(n_classes), per_class)
    z = centres[cls] + rng.normal(0, object_spread, (len(cls), latent_dim))
    to_nerf = _random_mlp(rng, latent_dim, nf2vec_dim)
    to_vlm = _random_mlp(rng, latent_dim, vlm_dim)
    to_text = _random_mlp(rng, latent_dim, vlm_dim)
    nerf = to_nerf(z).astype(np.float32)
    zv = z[:, None, :] + rng.normal(0, view_noise, (len(z), n_views, latent_dim))
    views = l2_normalize(to_vlm(zv))
    captions = l2_normalize(0.5 * to_vlm(z) + to_text(z))
    ids = [f"obj{i:05d}" for i in range(len(z))]
    labels = [f"class{c:02d}" for c in cls]
    return (EmbeddingTable(nerf, ids, labels, "nf2vec:synthetic"),
            EmbeddingTable(views, ids, labels, "vlm:synthetic"),
            EmbeddingTable(captions, ids, labels, "vlm:synthetic"))


def split_ids(ids: list[str], val_fraction: float = 0.2, seed: int = 0
              ) -> tuple[list[str], list[str]]:
    """A seeded random (train, val) split of ``ids``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    n_val = int(round(val_fraction * len(ids)))
    return [ids[i] for i in sorted(order[n_val:])], [ids[i] for i in sorted(order[:n_val])]
