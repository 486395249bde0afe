"""`clip2nerf fit --executor ray` on a real local Ray instance: a shard that fails once is
retried, the NeRFs equal a local run's, and a rerun skips finished objects."""

import json

import pytest
from safetensors.numpy import load_file

from clip2nerf.cli.main import main

FAST = ["--steps", "15", "--rays", "256", "--holdout", "2", "--quiet"]
TIMING = ("fit_seconds", "fit_cpu_seconds", "eval_seconds", "eval_cpu_seconds",
          "points_per_second")


def entries(out):
    man = json.loads((out / "manifest.json").read_text())["objects"]
    return {oid: {k: v for k, v in e.items() if k not in TIMING} for oid, e in man.items()}


@pytest.mark.slow
@pytest.mark.numerics  # compares weights fitted by Ray workers with this process's
def test_fit_on_ray_retries_matches_local_and_resumes(toy_dataset, tmp_path, capsys, ray_local):
    base = ["fit", "--data", str(toy_dataset), *FAST]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    (ray_local / "shard-00001.fail").touch()  # the second object's task fails once
    ray_args = [*base, "--out", str(tmp_path / "ray"), "--executor", "ray", "--shard-size", "1"]
    assert main(ray_args) == 0, capsys.readouterr().err
    assert not (ray_local / "shard-00001.fail").exists()  # the failure happened, then a retry
    assert "2 fitted, 0 already there" in capsys.readouterr().out
    names = ["obj000.safetensors", "obj001.safetensors"]
    assert sorted(p.name for p in (tmp_path / "ray").glob("*.safetensors")) == names
    # Same seed, one torch thread, same machine and kernels (Ray's workers inherit the
    # environment, instruction-set switches included): the same weights, bit for bit.
    for name in names:
        local, ray = load_file(tmp_path / "local" / name), load_file(tmp_path / "ray" / name)
        assert local.keys() == ray.keys()
        assert all(local[k].tobytes() == ray[k].tobytes() for k in local)
    assert entries(tmp_path / "ray") == entries(tmp_path / "local")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").glob("*.safetensors")}
    assert main(ray_args) == 0
    assert "0 fitted, 2 already there" in capsys.readouterr().out
    assert mtimes == {p.name: p.stat().st_mtime_ns
                      for p in (tmp_path / "ray").glob("*.safetensors")}
    assert main([*base, "--out", str(tmp_path / "x"), "--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
