"""A binary occupancy grid over the NeRF box, used to skip samples in empty space.

Cell ``[ix, iy, iz]`` covers ``aabb_min + (i, i+1) · cell_size`` along each axis (x-major
array order); a point outside the box is never occupied. The grid is saved in NeRF files
as uint8 (see ``clip2nerf.nerf.io``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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

    def occupied_fraction(self) -> float:
        return float(self.binary.float().mean())
