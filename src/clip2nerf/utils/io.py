"""Atomic writes: a reader never sees a half-written file or folder.

Every write goes to a temporary sibling, is flushed to disk, then renamed over the target
(``os.replace`` is atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _fsync(path: str | Path, must_succeed: bool = False) -> None:
    """fsync one file or folder. A path that cannot be opened is skipped; a failed fsync is
    raised when ``must_succeed`` (file contents), ignored otherwise (folders: some file
    systems refuse to sync them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        if must_succeed:
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file under ``folder``, then each folder (deepest first) so their entries
    are durable too. Writers inside an ``atomic_dir`` (``faiss.write_index``, ``np.save``)
    do not sync: without this a power cut after the rename could leave a complete-looking
    folder of empty or truncated files. Cost: benchmarks/README.md (bench_fsync.py)."""
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                _fsync(path, must_succeed=True)
        _fsync(Path(root))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; rename it onto ``target`` on success.

    Use it with writers that want a filename (``np.save``, ``safetensors.save_file``,
    ``Image.save``). On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; rename it to ``target`` when the block ends.

    With ``overwrite`` an existing ``target`` is replaced (moved aside, then deleted) only after
    the new folder is complete. On an exception the temporary folder is deleted.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _fsync_tree(tmp)  # the contents are on disk before the rename makes them visible
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_digest(path: str | os.PathLike[str]) -> str:
    """16 hex digits of a SHA-256 of the file's bytes (a cache key that changes with content)."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_json(path: str | os.PathLike[str], what: str = "JSON file",
              error: type[Exception] | None = None, owner: str = "") -> Any:
    """Read JSON, turning a missing or malformed file into one ``error`` (default
    ``UserError``) that names it, after ``owner`` (``"object car_0001: "``)."""
    from clip2nerf.errors import UserError

    error = error or UserError
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{owner}{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{owner}{what} {path} is not valid JSON ({exc})") from None


def resolve_inside(root: str | os.PathLike[str], rel: str | os.PathLike[str], what: str,
                   error: type[Exception] | None = None) -> Path:
    """``root / rel`` resolved (``..`` and symlinks followed); it must stay inside ``root``.

    Paths read from data files (a frame's ``file_path``, an id in a split file) go through
    this, so a dataset can never make clip2nerf read, or a service serve, a file outside it.
    Absolute paths, ``..`` escapes and symlinks leading out raise ``error`` (default
    ``UserError``) naming ``what``.
    """
    from clip2nerf.errors import UserError

    error = error or UserError
    if not isinstance(rel, (str, os.PathLike)) or str(rel) == "" or "\x00" in str(rel):
        raise error(f"{what}: {rel!r} is not a relative path")
    base = Path(root).resolve()
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise error(f"{what}: cannot resolve {rel!r} ({exc})") from None
    if Path(rel).is_absolute() or not target.is_relative_to(base):
        raise error(f"{what}: {str(rel)!r} points outside {Path(root)}; paths in a dataset must "
                    "stay inside it")
    return target


def remove_stale_temps(folder: str | os.PathLike[str], names: list[str] | None = None) -> int:
    """Delete leftovers of ``atomic_path`` writes killed mid-way (``.<name>.<rand>.tmp*``) in
    ``folder``; with ``names``, only those of these target names. Returns how many went.

    Only for folders one process writes at a time (a resumed ``fit``): a concurrent writer's
    temp file would go too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.iterdir():
        name = p.name
        if not (name.startswith(".") and ".tmp" in name) or not p.is_file():
            continue
        if names is not None and not any(name.startswith(f".{t}.") for t in names):
            continue
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n
