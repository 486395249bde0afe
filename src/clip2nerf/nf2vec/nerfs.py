"""NeRF files as nf2vec sees them: weight matrices, occupied cells, ids, classes, splits.

Also the batched NeRF forward pass (many NeRFs of one architecture at once, the teacher of the
distillation loss) and point sampling in and around each NeRF's occupied cells.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clip2nerf.errors import UserError
from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.encoding import frequency_encode, normalize_to_box
from clip2nerf.nerf.field import density_activation
from clip2nerf.nerf.io import NerfFile, load_nerf, load_nerf_weights
from clip2nerf.nf2vec.layout import (
    block_rows,
    matrix_shape,
    matrix_to_weights,
    output_rows,
    state_dict_to_matrix,
)


@dataclass
class NerfSet:
    """NeRFs loaded for nf2vec.

    Attributes:
        matrices: (n, rows, hidden) float32 weight matrices (``clip2nerf.nf2vec.layout``).
        ids, classes, splits, paths: n object ids, class names, split names, source files.
        occupied: n int32 tensors of flat indices (x-major) of occupied grid cells; empty
            when a NeRF has no grid.
        grid_resolution: n grid resolutions (0 without a grid).
    """

    config: NerfConfig
    matrices: torch.Tensor
    ids: list[str]
    classes: list[str]
    splits: list[str]
    paths: list[str]
    occupied: list[torch.Tensor]
    grid_resolution: list[int]

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows: list[int]) -> NerfSet:
        return NerfSet(self.config, self.matrices[rows], [self.ids[i] for i in rows],
                       [self.classes[i] for i in rows], [self.splits[i] for i in rows],
                       [self.paths[i] for i in rows], [self.occupied[i] for i in rows],
                       [self.grid_resolution[i] for i in rows])

    def split(self, name: str) -> NerfSet:
        return self.select([i for i, s in enumerate(self.splits) if s == name])


def _manifest_splits(folder: Path) -> dict[str, str]:
    """object_id -> split from ``manifest.json`` when it lists them (tolerant of its shape)."""
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path} is not valid JSON") from None
    items = data.get("nerfs", data.get("objects", data)) if isinstance(data, dict) else data
    out: dict[str, str] = {}
    if isinstance(items, dict):
        items = [{"object_id": k, **v} for k, v in items.items() if isinstance(v, dict)]
    if isinstance(items, list):
        for it in items:
            if isinstance(it, dict) and "object_id" in it and "split" in it:
                out[str(it["object_id"])] = str(it["split"])
    return out


def find_nerf_files(source: str | Path) -> list[Path]:
    """A NeRF file, or every ``*.safetensors`` of a folder (sorted; hidden temp files skipped)."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise UserError(f"--nerfs {source}: no such file or folder")
    files = sorted(p for p in source.glob("*.safetensors") if not p.name.startswith("."))
    if not files:
        raise UserError(f"--nerfs {source}: folder holds no *.safetensors NeRF files "
                        "(fit some with `clip2nerf fit`)")
    return files


def _hash_split(object_id: str, val_fraction: float = 0.1) -> str:
    h = int(hashlib.sha256(object_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def dataset_splits(data: str | Path) -> dict[str, str]:
    """object_id -> split from a dataset folder's ``splits/*.txt`` (missing files skipped)."""
    from clip2nerf.data.dataset import SPLITS
    from clip2nerf.data.layouts import open_dataset

    ds = open_dataset(data)
    out: dict[str, str] = {}
    for split in SPLITS:
        if (Path(data) / "splits" / f"{split}.txt").is_file():
            out.update({oid: split for oid in ds.object_ids(split)})
    return out


def load_nerf_set(source: str | Path, config: NerfConfig | None = None,
                  progress: bool = False, splits: dict[str, str] | None = None,
                  hash_split: bool = True, output_padding: bool = False,
                  only: list[str] | None = None,
                  keep_splits: Collection[str] | None = None) -> NerfSet:
    """Load NeRF files for nf2vec; a file of another architecture is refused (UserError naming
    the file and the expected architecture).

    A NeRF's split is ``splits[object_id]`` when given (see ``dataset_splits``), else its
    file's ``meta["split"]``, else ``manifest.json`` beside the files, else a fixed hash of
    the object id (10% val) with ``hash_split``, else "".

    ``output_padding``: write the padded output rows of NeRFs imported from tiny-cuda-nn
    (``NerfFile.output_padding``) into the padding rows of their output block, for encoders
    that read the ``tcnn`` layout (the reference nf2vec saw them); otherwise they stay zero.
    ``only``: just these file names of the folder, in that order (a shard of a sharded
    run). ``keep_splits``: keep only the NeRFs of these splits (the others are read for their
    split and dropped: training holds its train split only, ~100 kB a NeRF).
    """
    splits = splits or {}
    config = config or NerfConfig()
    files = find_nerf_files(source)
    if only is not None:
        by_name = {p.name: p for p in files}
        missing = [n for n in only if n not in by_name]
        if missing:
            raise UserError(f"--nerfs {source}: NeRF files gone: {', '.join(missing[:5])}")
        files = [by_name[n] for n in only]
    folder = Path(source) if Path(source).is_dir() else Path(source).parent
    manifest = _manifest_splits(folder)
    ids, classes, split_names, paths, occupied, res = [], [], [], [], [], []
    # Filled in place (a list of matrices then torch.stack would hold them twice); pages of
    # rows never filled (NeRFs of other splits) are never touched.
    mats: torch.Tensor | None = None
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc="loading NeRFs", unit="nerf", leave=False)
    for path in it:
        nf = load_nerf(path, expected_config=config)
        oid = nf.object_id or path.stem
        split = str(splits.get(oid) or nf.meta.get("split") or manifest.get(oid)
                    or (_hash_split(oid) if hash_split else ""))
        if keep_splits is not None and split not in keep_splits:
            continue
        mat = weight_matrix(nf, config, output_padding)
        if mats is None:
            mats = torch.empty((len(files), *mat.shape), dtype=mat.dtype)
        mats[len(ids)] = mat
        ids.append(oid)
        classes.append(nf.class_name)
        split_names.append(split)
        paths.append(str(path))
        if nf.occupancy is not None:
            occupied.append(torch.nonzero(nf.occupancy.binary.reshape(-1)).squeeze(-1)
                            .to(torch.int32))
            res.append(nf.occupancy.resolution)
        else:
            occupied.append(torch.zeros(0, dtype=torch.int32))
            res.append(0)
    if len(set(ids)) != len(ids):
        raise UserError(f"--nerfs {source}: duplicate object ids among the NeRF files")
    if mats is None:
        mats = torch.zeros((0, *matrix_shape(config)))
    return NerfSet(config, mats[:len(ids)], ids, classes, split_names, paths, occupied, res)


@dataclass
class WeightMatrices:
    """NeRF files read for embedding only (no occupancy grid): what classification needs.

    Attributes:
        matrices: (n, rows, hidden) float32 weight matrices, in ``paths`` order.
        ids, classes, paths: n object ids (file stem when the file has none), stored class
            names ("unknown" when none) and source files.
    """

    matrices: torch.Tensor
    ids: list[str]
    classes: list[str]
    paths: list[str]


def weight_matrix(nf: NerfFile, config: NerfConfig, output_padding: bool = False
                  ) -> torch.Tensor:
    """A loaded NeRF's ``(rows, hidden)`` float32 weight matrix (``clip2nerf.nf2vec.layout``);
    with ``output_padding``, imported tiny-cuda-nn padding rows go into the padding rows of
    its output block (see ``load_nerf_set``)."""
    mat = state_dict_to_matrix(nf.state_dict, config)
    if output_padding and nf.output_padding is not None:
        start = output_rows(config).stop
        mat[start:start + nf.output_padding.shape[0]] = nf.output_padding
    return mat


def _read_into(out: np.ndarray, path: Path, config: NerfConfig, output_padding: bool
               ) -> tuple[str, str]:
    """Read one NeRF file's weights (``load_nerf_weights``) straight into ``out``, its
    zero-filled ``(rows, hidden)`` slot: the matrix ``load_nerf`` + ``weight_matrix`` give,
    without a tensor per weight or a concatenation. Returns its object id (file stem when
    none) and class."""
    nf = load_nerf_weights(path, expected_config=config)
    blocks = block_rows(config)
    start = 0
    for i, (w, (used, padded)) in enumerate(zip(nf.weights, blocks, strict=True)):
        out[start:start + used] = w if i == len(blocks) - 1 else w.T
        start += padded
    if output_padding and nf.output_padding is not None:
        first = output_rows(config).stop
        out[first:first + nf.output_padding.shape[0]] = nf.output_padding
    return nf.object_id or path.stem, nf.class_name


def read_weight_matrices(files: list[Path] | list[str], config: NerfConfig | None = None,
                         workers: int = 4, pool=None, output_padding: bool = False
                         ) -> WeightMatrices:
    """Read many NeRF files' weights (each validated like ``load_nerf``; grids skipped;
    ``output_padding`` as in ``load_nerf_set``).

    Each file goes straight into its slot of one preallocated array. Files are read by
    ``workers`` threads (or the given ``concurrent.futures`` ``pool``).
    """
    from concurrent.futures import ThreadPoolExecutor

    config = config or NerfConfig()
    paths = [f if isinstance(f, Path) else Path(f) for f in files]
    if not paths:
        return WeightMatrices(torch.zeros(0, 0, 0), [], [], [])
    out = np.zeros((len(paths), *matrix_shape(config)), dtype=np.float32)

    def read(i: int) -> tuple[str, str]:
        return _read_into(out[i], paths[i], config, output_padding)

    if pool is None and workers > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=workers) as own:
            rows = list(own.map(read, range(len(paths))))
    elif pool is not None:
        rows = list(pool.map(read, range(len(paths))))
    else:
        rows = [read(i) for i in range(len(paths))]
    return WeightMatrices(torch.from_numpy(out), [r[0] for r in rows], [r[1] for r in rows],
                          [str(p) for p in paths])


def batched_nerf_forward(matrices: torch.Tensor, xyz: torch.Tensor, config: NerfConfig
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate many NeRFs of one architecture at once (same result as ``NerfField``).

    Args:
        matrices: (batch, rows, hidden) weight matrices.
        xyz: (batch, n, 3) world points, one set per NeRF.
    Returns:
        rgb (batch, n, 3) in [0, 1], sigma (batch, n) >= 0.
    """
    weights = matrix_to_weights(matrices, config)
    lo, hi = config.aabb
    aabb = torch.tensor([*lo, *hi], dtype=xyz.dtype, device=xyz.device)
    b, n, _ = xyz.shape
    h = frequency_encode(normalize_to_box(xyz.reshape(-1, 3), aabb), config.n_freqs)
    h = h.reshape(b, n, -1)
    for i, w in enumerate(weights):
        h = torch.bmm(h, w.transpose(1, 2))
        if i < len(weights) - 1:
            h = torch.relu(h)
    return torch.sigmoid(h[..., :3]), density_activation(h[..., 3], config)


def sample_points(nerfs: NerfSet, rows: list[int], n_points: int, occupied_fraction: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Training points: per NeRF, a share inside occupied cells (uniform in the cell), the rest
    uniform in the box (all uniform for a NeRF without a grid).

    Returns:
        (len(rows), n_points, 3) world points.
    """
    lo, hi = (torch.tensor(v, dtype=torch.float32) for v in nerfs.config.aabb)
    out = torch.rand(len(rows), n_points, 3, generator=generator)
    n_occ = int(round(n_points * occupied_fraction))
    for b, i in enumerate(rows):
        cells, r = nerfs.occupied[i], nerfs.grid_resolution[i]
        if n_occ == 0 or cells.numel() == 0:
            continue
        pick = cells[torch.randint(cells.numel(), (n_occ,), generator=generator)].long()
        ijk = torch.stack((pick // (r * r), (pick // r) % r, pick % r), dim=-1).float()
        out[b, :n_occ] = (ijk + out[b, :n_occ]) / r
    return lo + out * (hi - lo)


def occupied_mask(nerfs: NerfSet, rows: list[int], points: torch.Tensor) -> torch.Tensor:
    """Whether each point lies in an occupied cell of its NeRF's grid (all True without a grid).

    A NeRF's density outside its grid is never trained (the renderer skips those cells), so it
    is arbitrary there; the grid, not the MLP, says where the object is empty.

    Args:
        points: (len(rows), n, 3) world points.
    Returns:
        (len(rows), n) bool.
    """
    lo, hi = (torch.tensor(v, dtype=points.dtype, device=points.device) for v in nerfs.config.aabb)
    u = (points - lo) / (hi - lo)
    inside = ((u >= 0) & (u <= 1)).all(dim=-1)
    out = torch.ones(points.shape[:2], dtype=torch.bool, device=points.device)
    for b, i in enumerate(rows):
        r = nerfs.grid_resolution[i]
        if r == 0:
            continue
        ijk = (u[b] * r).long().clamp(0, r - 1)
        flat = (ijk[:, 0] * r + ijk[:, 1]) * r + ijk[:, 2]
        cells = nerfs.occupied[i].to(points.device, torch.long)  # sorted (nonzero order)
        if cells.numel() == 0:
            out[b] = False
            continue
        pos = torch.searchsorted(cells, flat).clamp(max=cells.numel() - 1)
        out[b] = (cells[pos] == flat) & inside[b]
    return out


__all__ = ["NerfSet", "occupied_mask", "dataset_splits", "find_nerf_files", "load_nerf_set", "batched_nerf_forward",
           "sample_points", "WeightMatrices", "read_weight_matrices", "weight_matrix"]
