"""The thread policy: passive OpenMP waiting set before torch loads; thread-count helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _fresh(code: str, env_extra: dict[str, str] | None = None,
           drop: tuple[str, ...] = ("OMP_WAIT_POLICY",)) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_sets_passive_policy_before_torch_loads():
    res = _fresh("import json, os, sys\n"
                 "import clip2nerf\n"
                 "print(json.dumps({'policy': os.environ.get('OMP_WAIT_POLICY'),"
                 " 'torch_before': 'torch' in sys.modules}))")
    assert res == {"policy": "PASSIVE", "torch_before": False}


def test_cli_entry_sets_policy_before_any_command_imports_torch():
    res = _fresh("import json, os, sys\n"
                 "import clip2nerf.cli.main\n"
                 "print(json.dumps({'policy': os.environ.get('OMP_WAIT_POLICY'),"
                 " 'torch': 'torch' in sys.modules}))")
    assert res == {"policy": "PASSIVE", "torch": False}


def test_a_policy_the_user_set_is_kept():
    res = _fresh("import json, os\nimport clip2nerf\n"
                 "print(json.dumps({'policy': os.environ.get('OMP_WAIT_POLICY')}))",
                 {"OMP_WAIT_POLICY": "ACTIVE"})
    assert res == {"policy": "ACTIVE"}


def test_worker_processes_inherit_the_policy(tmp_path):
    script = tmp_path / "spawn_child.py"
    script.write_text("import json, multiprocessing as mp, os\n"
                      "import clip2nerf\n"
                      "def f(_):\n"
                      "    return os.environ.get('OMP_WAIT_POLICY')\n"
                      "if __name__ == '__main__':\n"
                      "    with mp.get_context('spawn').Pool(1) as p:\n"
                      "        print(json.dumps({'child': p.map(f, [0])[0]}))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"child": "PASSIVE"}


def test_apply_wait_policy_reports_a_runtime_already_loaded():
    res = _fresh("import json, torch\n"
                 "from clip2nerf.utils.threads import apply_wait_policy\n"
                 "print(json.dumps({'in_time': apply_wait_policy()}))")
    assert res == {"in_time": False}


def test_available_cores_respects_the_affinity_mask():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity on this platform")
    cpu = sorted(os.sched_getaffinity(0))[0]
    res = _fresh("import json, os\n"
                 f"os.sched_setaffinity(0, {{{cpu}}})\n"
                 "from clip2nerf.utils.threads import available_cores, default_threads\n"
                 "print(json.dumps([available_cores(), default_threads(), default_threads(4)]))")
    assert res == [1, 1, 1]


def test_default_threads_caps_and_never_returns_zero():
    from clip2nerf.utils.threads import available_cores, default_threads

    n = available_cores()
    assert n >= 1
    assert default_threads() == n
    assert default_threads(cap=1) == 1
    assert default_threads(cap=n + 5) == n


def test_set_threads_sets_torch_and_zero_means_all_available():
    import torch

    from clip2nerf.utils.threads import available_cores, set_threads

    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        n = set_threads(0)
        assert n == available_cores() == torch.get_num_threads()
    finally:
        set_threads(before)
