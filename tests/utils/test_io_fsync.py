"""atomic_dir syncs what was written inside it (files and folders) before the rename."""

import os

from clip2nerf.utils import io


def test_atomic_dir_fsyncs_files_and_folders_before_the_rename(tmp_path, monkeypatch):
    synced: list[tuple[str, bool]] = []
    real = os.fsync
    target = tmp_path / "out"

    def spy(fd):
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), target.exists()))
        real(fd)

    monkeypatch.setattr(io.os, "fsync", spy)
    with io.atomic_dir(target) as tmp:
        (tmp / "index.faiss").write_bytes(b"x" * 100)  # a writer that does not sync
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.bin").write_bytes(b"y")
    names = [os.path.relpath(p, tmp) for p, _ in synced if p.startswith(str(tmp))]
    assert {"index.faiss", "sub", os.path.join("sub", "b.bin"), "."} <= set(names)
    assert not any(after for p, after in synced if p.startswith(str(tmp)))  # before rename
    assert synced[-1] == (str(tmp_path), True)  # then the parent, after the rename
    assert (target / "sub" / "b.bin").read_bytes() == b"y"
