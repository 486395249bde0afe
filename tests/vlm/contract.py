"""The VisionLanguageModel contract, checked on any backend."""

from __future__ import annotations

import numpy as np

TEXTS = ["a photo of a cat", "a red sofa with black legs", "an office seat", "a jet plane",
         "a 3d model of a watercraft"]


def sample_images(n: int = 5, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (n, size, size, 4), dtype=np.uint8)
    imgs[..., 3] = rng.choice([0, 255], size=(n, size, size))
    return imgs


def check_contract(vlm) -> None:
    imgs = sample_images()
    img = vlm.embed_images(imgs, batch_size=2)
    txt = vlm.embed_texts(TEXTS, batch_size=2)
    for e, n in ((img, len(imgs)), (txt, len(TEXTS))):
        assert e.shape == (n, vlm.dim)
        assert e.dtype == np.float32
        assert np.isfinite(e).all()
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # Deterministic, and batching does not change the answer beyond float32 rounding (other
    # batch shapes are other sums; measured <= 1e-7 on unit vectors, 200x below 2e-5).
    np.testing.assert_array_equal(vlm.embed_images(imgs, batch_size=2), img)
    one_by_one = np.concatenate([vlm.embed_images(i) for i in imgs])
    np.testing.assert_allclose(one_by_one, img, atol=2e-5)
    all_at_once = vlm.embed_images(list(imgs), batch_size=64)
    np.testing.assert_allclose(all_at_once, img, atol=2e-5)
    np.testing.assert_allclose(np.concatenate([vlm.embed_texts(t) for t in TEXTS]), txt, atol=2e-5)
    # Different inputs give different vectors (not a constant network).
    assert np.abs(img[0] - img[1]).max() > 1e-4
    assert np.abs(txt[0] - txt[1]).max() > 1e-4
    # RGBA is composited on white: a transparent image equals a white RGB one.
    clear = np.zeros((1, 24, 24, 4), np.uint8)
    white = np.full((1, 24, 24, 3), 255, np.uint8)
    np.testing.assert_allclose(vlm.embed_images(clear), vlm.embed_images(white), atol=1e-6)
    assert vlm.embed_images([]).shape == (0, vlm.dim)
    assert vlm.space == "vlm:" + vlm.name
