"""CPU thread policy shared by every long command (fit, nf2vec, eval, demo, serve).

Two measured problems on a shared CPU (issue 20; ``benchmarks/bench_busy.py --old`` shows both):

* **Spinning OpenMP workers.** torch's bundled libgomp (and the copies faiss and scikit-learn
  ship) let idle worker threads spin between parallel regions. On a loaded 2-core machine a
  2-thread torch stage then burnt 3-6x the CPU of a 1-thread one and ran up to 10x slower
  (a small MLP training step: 43-70 s with the default policy vs 4-8 s passive; a render:
  2.2-3.6 s/view vs 0.5-0.8 s/view). ``OMP_WAIT_POLICY=PASSIVE`` makes idle workers sleep
  at once; it must be in the environment before the first OpenMP runtime loads (i.e. before
  ``import torch``), which is why ``clip2nerf/__init__.py`` calls ``apply_wait_policy()``
  first thing. Worker processes inherit it through the environment.
* **Thread counts.** torch defaults to one thread per physical core of the whole machine,
  ignoring CPU affinity and cgroup quotas (containers). ``default_threads()`` is the number a
  stage should use when asked for "all": min(physical cores, affinity, quota).

Shrinking torch's pool after growing it (``set_num_threads(2)`` then ``(1)``) was measured
harmless with either policy; the stalls came from stages that ran with 2 spinning threads.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

WAIT_POLICY = "PASSIVE"
"""The OpenMP wait policy clip2nerf sets unless the user set one (``OMP_WAIT_POLICY``)."""

_OPENMP_MODULES = ("torch", "faiss", "sklearn", "numba")


def apply_wait_policy() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already names a policy.

    Returns False when an OpenMP-using library (torch, faiss, scikit-learn) was imported
    before this call: its runtime read the environment when it loaded, so the policy reaches
    only libraries loaded from now on and worker processes started from now on.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    return not any(m in sys.modules for m in _OPENMP_MODULES)


def _physical_cores(cpus: set[int]) -> int:
    """Distinct (package, core) pairs among ``cpus`` from sysfs; ``len(cpus)`` if unknown."""
    cores = set()
    for c in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{c}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(),
                       (topo / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


def _cgroup_quota() -> int | None:
    """CPUs allowed by a cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_*``) quota, if any."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may really use: min(physical cores in its affinity mask, quota)."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = set(range(os.cpu_count() or 1))
    n = _physical_cores(cpus)
    quota = _cgroup_quota()
    return max(1, min(n, quota) if quota else n)


def default_threads(cap: int | None = None) -> int:
    """Threads for a stage asked to use "all" CPUs (``--threads 0``), at most ``cap``."""
    n = available_cores()
    return max(1, min(n, cap) if cap else n)


def set_threads(n: int) -> int:
    """Use ``n`` CPU threads (``0`` = ``default_threads()``) in torch and in the BLAS/OpenMP
    pools already loaded beside it (numpy's and faiss's OpenBLAS, faiss's libgomp); returns n.

    Call it once at the start of a command; later calls may shrink or grow the pools (that
    was measured harmless with the passive wait policy).
    """
    import torch

    n = default_threads() if n <= 0 else n
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    return n


__all__ = ["WAIT_POLICY", "apply_wait_policy", "available_cores", "default_threads",
           "set_threads"]
