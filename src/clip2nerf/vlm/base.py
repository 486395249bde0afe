"""The one interface every vision-language model (VLM) backend implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.vlm.preprocess import ImageLike, as_image_list


class VisionLanguageModel(abc.ABC):
    """Frozen image and text encoders that share one embedding space.

    Subclasses implement ``_embed_image_batch`` / ``_embed_text_batch`` on one batch; this
    class does the batching, input checks and the final L2 normalisation, so every backend
    returns the same thing: ``(n, dim)`` float32 rows of unit length.

    Attributes:
        name: identifies the model and its weights; stored embeddings carry
            ``space = "vlm:" + name`` so that vectors of different models never mix.
        dim: embedding size ``d``.
        batch_size: images/texts per forward pass.
    """

    name: str
    dim: int
    batch_size: int = 64

    @property
    def space(self) -> str:
        """The ``EmbeddingTable.space`` of vectors this model produces."""
        return "vlm:" + self.name

    def embed_images(self, images: ImageLike | Sequence[ImageLike] | np.ndarray,
                     batch_size: int | None = None) -> np.ndarray:
        """Images -> (n, dim) float32, L2-normalised.

        ``images``: one image, a list (paths, PIL images, (H, W, 3|4) uint8 arrays), or an
        (n, H, W, 3|4) uint8 array. RGBA is composited on white.
        """
        items = as_image_list(images)
        return self._batched(items, self._embed_image_batch, batch_size)

    def embed_texts(self, texts: str | Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Texts -> (n, dim) float32, L2-normalised."""
        items = [texts] if isinstance(texts, str) else list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str) or not t.strip():
                raise UserError(f"text {i}: expected a non-empty string, got {t!r}")
        return self._batched(items, self._embed_text_batch, batch_size)

    def _batched(self, items: list, fn, batch_size: int | None) -> np.ndarray:
        bs = int(batch_size or self.batch_size)
        if bs < 1:
            raise UserError(f"batch size must be >= 1, got {bs}")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [np.asarray(fn(items[i:i + bs]), dtype=np.float32)
                 for i in range(0, len(items), bs)]
        out = np.concatenate(parts)
        if out.shape != (len(items), self.dim):
            raise RuntimeError(f"{self.name}: backend returned {out.shape}, "
                               f"expected {(len(items), self.dim)}")
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norm, 1e-12)).astype(np.float32)

    @abc.abstractmethod
    def _embed_image_batch(self, images: list[ImageLike]) -> np.ndarray:
        """One batch of images -> (b, dim) float array (normalisation happens above)."""

    @abc.abstractmethod
    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        """One batch of texts -> (b, dim) float array (normalisation happens above)."""


class WrappedVLM(VisionLanguageModel):
    """Another VLM behind a wrapper: the same name, space and dim, every batch delegated.

    Subclasses override a batch method to change how it runs (a cache, a lock); any other
    attribute (config, image-tower helpers) is the wrapped model's.
    """

    def __init__(self, inner: VisionLanguageModel):
        self.inner = inner
        self.name, self.dim, self.batch_size = inner.name, inner.dim, inner.batch_size

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (e.g. while unpickling): no infinite recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _embed_image_batch(self, images: list[ImageLike]) -> np.ndarray:
        return self.inner._embed_image_batch(images)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed_text_batch(texts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
