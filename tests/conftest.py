"""Shared test setup: deterministic, offline, small."""

import os

import pytest

# Never reach for a model hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config):
    # pyproject.toml holds the other markers; this one lives here (--strict-markers is on).
    config.addinivalue_line(
        "markers", "numerics: compares floats with numbers from another run (a committed "
        "fixture, a stored reference, another process); CI runs these a second time on "
        "another instruction set (.ci/run)")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """``(workdir, TourResult, printed lines)`` of one tiny demo run, shared by the demo tests
    and the docs' tutorials (which copy the workdir before changing anything)."""
    from tiny_demo_config import QUICK

    from clip2nerf.demo import DemoConfig, run_demo

    workdir = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = run_demo(DemoConfig(workdir=workdir, preset="tiny", workers=2, **QUICK),
                      echo=lines.append)
    return workdir, result, lines


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    """A real local Ray instance (2 CPUs, no dashboard) for the ``--executor ray`` tests.

    Yields the fault-injection folder: a file ``<folder>/<shard name>.fail`` makes that shard's
    next Ray task fail once (``shard_faults.failing_marked_shards``). Ray is in the test extra, so a
    missing Ray is an error here, not a skip.
    """
    import ray
    from shard_faults import failing_marked_shards

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        with failing_marked_shards(tmp_path_factory.mktemp("inject")) as inject:
            yield inject
    finally:
        ray.shutdown()
