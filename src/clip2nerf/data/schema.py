"""Schemas of a dataset's JSON files: ``dataset.json``, ``meta.json``, ``transforms.json``.

Read through ``clip2nerf.utils.validate.parse`` by ``clip2nerf.data.dataset`` (which adds the
file's name to the one-line error). These files are also written or read by other tools
(``transforms.json`` is the NeRF convention), so keys a schema does not name are ignored
rather than refused; the keys it names are checked strictly. Paths inside them are checked
by the reader (``utils.io.resolve_inside``), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Required

from pydantic import AfterValidator, Field
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from clip2nerf.camera import CameraFields
from clip2nerf.utils.bounds import MAX_VIEWS, Bound
from clip2nerf.utils.validate import Aabb, schema

DATASET_FORMAT = "clip2nerf-dataset"
DATASET_VERSION = 1
MAX_FRAMES = 16 * MAX_VIEWS
"""Frames of one ``transforms.json`` (a view list longer than any command renders)."""

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite float32 (``np.finfo(np.float32).max``)."""


@schema(extra="ignore")
class DatasetInfo(TypedDict, total=False):
    """``dataset.json``: the format tag, a version (newer ones are refused by the reader),
    the class names and a name."""

    format: Required[Literal["clip2nerf-dataset"]]
    version: Bound(int, 0).field
    classes: list[str]
    name: str


ObjectMeta = schema(extra="ignore")(TypedDict("ObjectMeta", {
    "class": str | None, "caption": str | None, "object_id": str | None}, total=False))
"""``meta.json`` of one object: ``class``, ``caption`` and ``object_id``, strings when present."""


def _four_by_four(m: list[list[float]]) -> list[list[float]]:
    if len(m) != 4 or any(len(row) != 4 for row in m):
        raise ValueError(f"must be a 4x4 matrix, got {len(m)} rows of {[len(r) for r in m]}")
    # Cameras become float32: a finite float64 beyond its range would turn into inf there.
    if any(abs(x) > FLOAT32_MAX for row in m for x in row):
        raise ValueError(f"must hold values within float32's range (|x| <= {FLOAT32_MAX:.3g})")
    return m


@schema(extra="ignore")
@dataclass(frozen=True, kw_only=True)
class FrameEntry:
    """One frame of ``transforms.json``: its view (the extension may be left out, Blender
    style), an optional depth map and the finite camera-to-world matrix."""

    file_path: str
    transform_matrix: Annotated[list[list[float]], AfterValidator(_four_by_four)]
    depth_file_path: str | None = None


@schema(extra="ignore")
@dataclass(frozen=True, kw_only=True)
class Transforms(CameraFields):
    """``transforms.json``: the camera (``CameraFields``), 1 to ``MAX_FRAMES`` frames, an
    optional object box (finite, min < max) and depth scale (finite, > 0)."""

    frames: Annotated[list[FrameEntry], Field(min_length=1, max_length=MAX_FRAMES)]
    aabb: Aabb | None = None
    depth_scale: Bound(float, 0.0, lo_open=True).field | None = None


__all__ = ["DATASET_FORMAT", "DATASET_VERSION", "MAX_FRAMES", "DatasetInfo", "FrameEntry",
           "ObjectMeta", "Transforms"]
