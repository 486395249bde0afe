"""Datasets of objects seen from many views: the on-disk format, its reader, and ``synth``."""

from clip2nerf.data.dataset import DATASET_FILE, Dataset, Frame, Intrinsics, ObjectRecord
from clip2nerf.data.layouts import open_dataset

__all__ = ["DATASET_FILE", "Dataset", "Frame", "Intrinsics", "ObjectRecord", "open_dataset"]
