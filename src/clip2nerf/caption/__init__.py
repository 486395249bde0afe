"""Captions of a dataset's objects: a BLIP-2 captioner backend and the caption file format.

The dataset's own captions (``meta.json``) stay the offline default; ``clip2nerf caption``
writes a caption file per captioner (``DATA/captions/<captioner>.json``) that multimodal
training can use instead (``clip2nerf vlm embed-captions --captions FILE``).
"""

from clip2nerf.caption.blip2 import DEFAULT_BLIP2, Blip2Captioner
from clip2nerf.caption.store import (
    CaptionFile,
    caption_dataset,
    dataset_captions,
    default_caption_path,
    read_captions,
)

__all__ = ["DEFAULT_BLIP2", "Blip2Captioner", "CaptionFile", "caption_dataset",
           "dataset_captions", "default_caption_path", "read_captions"]
