"""nerfacc 0.3.x ``OccupancyGrid`` state dicts (nf2vec's ``grid.pth``) <-> ``OccupancyGrid``.

nerfacc 0.3.5 (``nerfacc/grid.py``, ``OccupancyGrid.__init__``) registers the buffers
``_roi_aabb`` (6,) float, ``_binary`` (R, R, R) bool, ``resolution`` (3,) int32, ``occs``
(R³,) float, ``grid_coords`` (R³, 3) long and ``grid_indices`` (R³,), plus an empty
parameter ``_dummy``. Cell ``[i, j, k]`` (``torch.meshgrid(..., indexing="ij")``) covers
``roi_min + ([i, j, k] + [0, 1]) · cell`` under the AABB contraction: the same convention as
``clip2nerf.nerf.occupancy.OccupancyGrid``. nf2vec's files may store ``_binary`` as a sparse
tensor (its loaders call ``.to_dense()``) and may drop the other buffers; only ``_binary`` is
required here, ``_roi_aabb`` defaults to the NeRF's box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from clip2nerf.errors import UserError
from clip2nerf.interop.pth import expect_mapping, tensor_entry
from clip2nerf.nerf.occupancy import OccupancyGrid


def grid_from_state(state: Any, aabb: torch.Tensor, path: str | Path = "grid.pth"
                    ) -> OccupancyGrid:
    """A nerfacc grid state dict -> ``OccupancyGrid`` at the grid's own resolution.

    Args:
        aabb: (6,) the NeRF's box; the grid's ``_roi_aabb``, when present, must equal it.
    """
    sd = expect_mapping(state, path, "an occupancy grid state")
    binary = tensor_entry(sd, "_binary", path, "occupancy grid")
    if binary.dim() != 3 or len(set(binary.shape)) != 1:
        raise UserError(f"{path}: _binary has shape {tuple(binary.shape)}; clip2nerf needs a "
                        "cubic (R, R, R) grid")
    if binary.dtype != torch.bool:
        if binary.is_floating_point() or not torch.isin(binary.unique(), torch.tensor([0, 1])).all():
            raise UserError(f"{path}: _binary is {binary.dtype} with values other than 0/1")
        binary = binary.bool()
    if "_roi_aabb" in sd:
        roi = tensor_entry(sd, "_roi_aabb", path, "occupancy grid").float().reshape(-1)
        if roi.numel() != 6 or not torch.allclose(roi, aabb.float(), atol=1e-6):
            raise UserError(f"{path}: grid box {roi.tolist()} differs from the NeRF box "
                            f"{aabb.tolist()}")
    if "resolution" in sd:
        res = tensor_entry(sd, "resolution", path, "occupancy grid").reshape(-1).tolist()
        if [int(r) for r in res] != list(binary.shape):
            raise UserError(f"{path}: resolution {res} does not match _binary "
                            f"{tuple(binary.shape)}")
    return OccupancyGrid(binary.contiguous(), aabb.float().clone())


def grid_to_state(grid: OccupancyGrid) -> dict[str, torch.Tensor]:
    """``OccupancyGrid`` -> the buffers of a nerfacc 0.3.x ``OccupancyGrid`` (dense), so
    ``nerfacc.OccupancyGrid(roi_aabb, resolution).load_state_dict(state)`` accepts it.

    ``occs`` is set to 1 in occupied cells and 0 elsewhere (nerfacc only thresholds it when
    it updates the grid during training)."""
    r = grid.resolution
    res = torch.tensor([r, r, r], dtype=torch.int32)
    coords = torch.stack(torch.meshgrid(*(torch.arange(r),) * 3, indexing="ij"), dim=-1)
    return {"_dummy": torch.empty(0), "_roi_aabb": grid.aabb.detach().float().cpu().clone(),
            "_binary": grid.binary.detach().bool().cpu().clone(), "resolution": res,
            "occs": grid.binary.detach().float().cpu().reshape(-1).clone(),
            "grid_coords": coords.reshape(-1, 3).long(), "grid_indices": torch.arange(r**3)}


__all__ = ["grid_from_state", "grid_to_state"]
