"""NeRFs: the nf2vec-architecture field, rays, volume rendering, occupancy grids, files.

The public API (shapes in each docstring)::

    NerfConfig, NerfField                        architecture and module
    rays_from_camera, orbit_cameras, look_at     cameras (``clip2nerf.camera``, re-exported)
    render_rays, render_image                    volume rendering of any field callable
    render_weight_from_density, accumulate_along_rays
    OccupancyGrid                                empty-space skipping
    save_nerf, load_nerf, NerfFile               NeRF files (safetensors)
    FitConfig, fit_object, fit_dataset           fitting one object / a dataset folder
"""

from clip2nerf.nerf.config import DEFAULT_AABB, NerfConfig
from clip2nerf.nerf.field import NerfField
from clip2nerf.nerf.fit import FitConfig, FitResult, fit_object
from clip2nerf.nerf.io import NerfFile, NerfFileError, load_nerf, save_nerf
from clip2nerf.nerf.occupancy import OccupancyGrid
from clip2nerf.nerf.rays import (
    default_intrinsics,
    look_at,
    orbit_cameras,
    ray_aabb_intersect,
    rays_from_camera,
)
from clip2nerf.nerf.render import (
    accumulate_along_rays,
    render_image,
    render_rays,
    render_weight_from_density,
)
from clip2nerf.nerf.runner import fit_dataset

__all__ = [
    "DEFAULT_AABB",
    "FitConfig",
    "FitResult",
    "NerfConfig",
    "NerfField",
    "NerfFile",
    "NerfFileError",
    "OccupancyGrid",
    "accumulate_along_rays",
    "default_intrinsics",
    "fit_dataset",
    "fit_object",
    "load_nerf",
    "look_at",
    "orbit_cameras",
    "ray_aabb_intersect",
    "rays_from_camera",
    "render_image",
    "render_rays",
    "render_weight_from_density",
    "save_nerf",
]
