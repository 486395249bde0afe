"""A binary occupancy grid over the NeRF box, used to skip samples in empty space.

Cell ``[ix, iy, iz]`` covers ``aabb_min + (i, i+1) · cell_size`` along each axis (x-major
array order); a point outside the box is never occupied. The grid is saved in NeRF files
as uint8 (see ``clip2nerf.nerf.io``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from clip2nerf.camera import project_points


@dataclass
class OccupancyGrid:
    """``binary``: (R, R, R) bool, True where the field may have density. ``aabb``: (6,)."""

    binary: torch.Tensor
    aabb: torch.Tensor

    @classmethod
    def full(cls, resolution: int, aabb: torch.Tensor | list[float]) -> OccupancyGrid:
        """A grid with every cell occupied (no skipping)."""
        aabb_t = torch.as_tensor(aabb, dtype=torch.float32).reshape(6)
        return cls(torch.ones((resolution,) * 3, dtype=torch.bool), aabb_t)

    @property
    def resolution(self) -> int:
        return int(self.binary.shape[0])

    def to(self, device: torch.device | str) -> OccupancyGrid:
        return OccupancyGrid(self.binary.to(device), self.aabb.to(device))

    def cell_centers(self) -> torch.Tensor:
        """(R, R, R, 3) world coordinates of the cell centres."""
        r = self.resolution
        lo, hi = self.aabb[:3], self.aabb[3:]
        ax = (torch.arange(r, dtype=torch.float32, device=self.aabb.device) + 0.5) / r
        gx, gy, gz = torch.meshgrid(ax, ax, ax, indexing="ij")
        return lo + torch.stack([gx, gy, gz], dim=-1) * (hi - lo)

    def cell_index(self, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 3) points -> (n, 3) long cell indices (clamped) and (n,) inside-box mask."""
        lo, hi = self.aabb[:3], self.aabb[3:]
        u = (xyz - lo) / (hi - lo)
        inside = ((u >= 0) & (u <= 1)).all(dim=-1)
        idx = (u * self.resolution).long().clamp(0, self.resolution - 1)
        return idx, inside

    def query(self, xyz: torch.Tensor) -> torch.Tensor:
        """(n, 3) points -> (n,) bool, True where the point lies in an occupied cell."""
        idx, inside = self.cell_index(xyz)
        r = self.resolution
        flat = (idx[:, 0] * r + idx[:, 1]) * r + idx[:, 2]
        return self.binary.reshape(-1)[flat] & inside

    def dilate(self, cells: int = 1) -> OccupancyGrid:
        """Grow the occupied region by ``cells`` in every direction (a cube structuring element)."""
        if cells <= 0:
            return self
        x = self.binary.float()[None, None]
        k = 2 * cells + 1
        grown = torch.nn.functional.max_pool3d(x, k, stride=1, padding=cells)[0, 0] > 0
        return OccupancyGrid(grown, self.aabb)

    def coarsen(self, factor: int) -> OccupancyGrid:
        """A grid ``factor`` times coarser whose cells are occupied if any sub-cell is."""
        if factor <= 1:
            return self
        if self.resolution % factor:
            raise ValueError(f"resolution {self.resolution} is not a multiple of {factor}")
        x = self.binary.float()[None, None]
        coarse = torch.nn.functional.max_pool3d(x, factor, stride=factor)[0, 0] > 0
        return OccupancyGrid(coarse, self.aabb)

    def occupied_fraction(self) -> float:
        return float(self.binary.float().mean())


def footprint_radius_px(intrinsics, z: torch.Tensor, radius: float) -> int:
    """Pixels (rounded up) covered by a ball of ``radius`` at the nearest depth in ``z``."""
    front = z[z > radius]
    z_min = float(front.min()) if front.numel() else 1.0
    f = max(intrinsics.fx, intrinsics.fy)
    return int(math.ceil(radius * f / max(z_min - radius, 1e-3)))


def grid_from_views(intrinsics, poses: torch.Tensor, alphas: torch.Tensor,
                    aabb: torch.Tensor, resolution: int = 64,
                    depths: torch.Tensor | None = None, alpha_threshold: float = 0.02,
                    min_views: int = 1, interior_margin: float | None = None,
                    carve_free_space: bool = False) -> OccupancyGrid:
    """Carve an occupancy grid from training views: a visual hull, tightened by depth.

    A cell is emptied when, in at least ``min_views`` views that see it, its whole pixel
    footprint is background (alpha <= ``alpha_threshold``), or (with depth maps and
    ``carve_free_space``) it lies entirely in front of every surface seen in that footprint.
    Free-space carving is off by default: depth maps sampled at pixel centres miss parts
    thinner than a pixel (a tail fin seen edge-on), and carving in front of the surface
    behind them deletes those parts for every view. Cells seen by no view stay
    occupied. Footprints are over-approximated (max/min pooling by the cell's projected
    radius), so carving is conservative: it never empties a cell that holds visible surface.

    With depth maps and ``interior_margin`` (world units), cells hidden more than that behind
    the surface in *every* view that sees them are emptied too: the grid becomes a shell
    around the visible surface, so rays stop spending samples inside solid parts. Renders
    from outside are unchanged as long as the shell is opaque (a few cells thick).

    Args:
        intrinsics: shared pinhole camera; ``poses``: (V, 4, 4) camera-to-world.
        alphas: (V, H, W) float in [0, 1]; ``depths``: (V, H, W) depth along the viewing axis,
            0 = background, or None.
        aabb: (6,) box; ``resolution``: cells per axis.
    """
    import torch.nn.functional as F

    grid = OccupancyGrid.full(resolution, aabb)
    centers = grid.cell_centers().reshape(-1, 3)
    half_diag = float((grid.aabb[3:] - grid.aabb[:3]).norm()) / resolution / 2
    n_cells = centers.shape[0]
    carved = torch.zeros(n_cells, dtype=torch.int32)
    hidden = torch.ones(n_cells, dtype=torch.bool)
    n_seen = torch.zeros(n_cells, dtype=torch.int32)
    alive = torch.arange(n_cells)  # cells not carved yet: later views only look at these
    h, w = alphas.shape[1:]
    for v in range(poses.shape[0]):
        col, row, z = project_points(centers[alive], intrinsics, poses[v])
        pad = footprint_radius_px(intrinsics, z, half_diag)
        k = 2 * pad + 1
        in_front = z > half_diag
        fg = (alphas[v] > alpha_threshold).float()[None, None]
        fg_any = F.max_pool2d(fg, k, stride=1, padding=pad)[0, 0] > 0
        ci, ri = col.floor().long(), row.floor().long()
        seen = in_front & (ci >= 0) & (ci < w) & (ri >= 0) & (ri < h)
        ci, ri = ci.clamp(0, w - 1), ri.clamp(0, h - 1)
        empty = seen & ~fg_any[ri, ci]
        if depths is not None:
            d = depths[v]
            # Nearest surface in the footprint (background = +inf); cells wholly in front of
            # it are free space.
            d_inf = torch.where(d > 0, d, torch.full_like(d, float("inf")))
            if carve_free_space:
                d_near = -F.max_pool2d(-d_inf[None, None], k, stride=1, padding=pad)[0, 0]
                empty |= seen & (z + half_diag < d_near[ri, ci])
            if interior_margin is not None:
                # Farthest surface in the footprint; any background pixel there makes it inf
                # (the cell might be seen past a silhouette edge), so it is never hidden.
                # Partly covered pixels count as background: their centre depth may belong to
                # a surface behind a thin part.
                d_full = torch.where(alphas[v] >= 0.99, d_inf, torch.full_like(d, float("inf")))
                d_far = F.max_pool2d(d_full[None, None], k, stride=1, padding=pad)[0, 0]
                behind = z - half_diag > d_far[ri, ci] + interior_margin
                hidden[alive] &= ~seen | behind
                n_seen[alive] += seen.int()
        carved[alive] += empty.int()
        if min_views == 1:
            alive = alive[~empty]
    keep = carved < min_views
    if interior_margin is not None and depths is not None:
        keep &= ~(hidden & (n_seen > 0))
    binary = keep.reshape((resolution,) * 3)
    return OccupancyGrid(binary, grid.aabb)


@torch.no_grad()
def occupied_ray_bounds(grid: OccupancyGrid, rays_o: torch.Tensor, rays_d: torch.Tensor,
                        batch: int = 8192
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Conservative range of each ray that crosses occupied cells.

    Marches a grid coarsened to at most 32 cells per axis and dilated by one cell, at
    a step shorter than a coarse cell, so no ray that passes through an occupied fine
    cell is missed (its chord through the dilated coarse cell exceeds the step).

    Returns:
        ``t_min, t_max, hit``: (n_rays,) each. ``[t_min, t_max]`` covers every occupied
        sample of the ray with one step of slack on both sides (so jittered samples inside
        it see the same cells); ``hit`` is False for rays that cross no occupied cell.
    """
    from clip2nerf.nerf.rays import ray_aabb_intersect

    factor = max(1, grid.resolution // 32)
    while grid.resolution % factor:
        factor -= 1
    coarse = grid.coarsen(factor).dilate(1)
    cell = float((grid.aabb[3:] - grid.aabb[:3]).min()) / coarse.resolution
    step = 0.8 * cell
    n = rays_o.shape[0]
    t_min = torch.zeros(n, device=rays_o.device)
    t_max = torch.zeros(n, device=rays_o.device)
    hit = torch.zeros(n, dtype=torch.bool, device=rays_o.device)
    for s in range(0, n, batch):
        o, d = rays_o[s:s + batch], rays_d[s:s + batch]
        tn, tf, h = ray_aabb_intersect(o, d, grid.aabb)
        if not h.any():
            continue
        n_steps = int(math.ceil(float((tf - tn).max()) / step)) + 1
        t = tn[:, None] + (torch.arange(n_steps, device=o.device) + 0.5) * step  # (b, S)
        valid = t < tf[:, None]
        occ = coarse.query((o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3))
        occ = occ.reshape(t.shape) & valid
        any_occ = occ.any(dim=1)
        big = torch.full_like(t, float("inf"))
        first = torch.where(occ, t, big).amin(dim=1)
        last = torch.where(occ, t, -big).amax(dim=1)
        t_min[s:s + batch] = torch.where(any_occ, first - 1.5 * step, 0.0)
        t_max[s:s + batch] = torch.where(any_occ, last + 1.5 * step, 0.0)
        hit[s:s + batch] = any_occ
    return t_min, t_max, hit
