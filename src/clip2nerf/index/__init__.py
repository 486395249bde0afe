"""Galleries of embeddings searched by cosine k-NN (faiss), and the paper's metrics.

Arrays in, arrays out: nothing here knows about NeRFs, images or text.
"""

from clip2nerf.index.gallery import Gallery, GalleryConfig
from clip2nerf.index.metrics import accuracy, classify_1nn, recall_at_k
from clip2nerf.index.timing import Stopwatch, ms_per_item, time_call

__all__ = [
    "Gallery",
    "GalleryConfig",
    "Stopwatch",
    "accuracy",
    "classify_1nn",
    "ms_per_item",
    "recall_at_k",
    "time_call",
]
