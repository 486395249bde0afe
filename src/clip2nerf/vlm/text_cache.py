"""A VLM whose text embeddings are kept in a file, so repeated texts skip the text tower.

The demo's tour embeds the same prompts and queries on every run; with them cached, a rerun
never loads the text tower (sentence-transformers' import and model load take seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clip2nerf.vlm.base import VisionLanguageModel, WrappedVLM


class TextEmbeddingCache(WrappedVLM):
    """Wraps ``inner``; texts already embedded by the same model are read from ``path``.

    The file is a safetensors table (one row per text) tagged with the model's space: a file
    written by another model is ignored and replaced. New texts are appended atomically.
    """

    def __init__(self, inner: VisionLanguageModel, path: str | Path):
        super().__init__(inner)
        self.path = Path(path)
        self._rows: dict[str, np.ndarray] = self._read()

    def _read(self) -> dict[str, np.ndarray]:
        if not self.path.is_file():
            return {}
        from safetensors.numpy import safe_open

        try:
            with safe_open(str(self.path), "np") as f:
                meta = f.metadata() or {}
                vectors = f.get_tensor("embeddings")
            texts = json.loads(meta.get("texts", "[]"))
        except Exception:  # a damaged cache is only a slower run: start it again
            return {}
        if (meta.get("space") != self.inner.space or vectors.shape != (len(texts), self.dim)
                or not np.isfinite(vectors).all()):
            return {}
        return dict(zip(texts, vectors, strict=True))

    def _write(self) -> None:
        from safetensors.numpy import save_file

        from clip2nerf.utils.io import atomic_path

        texts = list(self._rows)
        vectors = np.stack([self._rows[t] for t in texts]).astype(np.float32)
        with atomic_path(self.path) as tmp:
            save_file({"embeddings": vectors}, str(tmp),
                      metadata={"space": self.inner.space, "texts": json.dumps(texts)})

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        if missing:
            fresh = np.asarray(self.inner._embed_text_batch(missing), dtype=np.float32)
            self._rows.update(zip(missing, fresh, strict=True))
            self._write()
        return np.stack([self._rows[t] for t in texts])


__all__ = ["TextEmbeddingCache"]
