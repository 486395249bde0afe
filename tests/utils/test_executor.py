"""The shard executor: sharding, the local path, and Ray tasks that fail once and are retried."""

import pytest
from shard_faults import InjectedFailure, failing_marked_shards

from clip2nerf.errors import UserError
from clip2nerf.utils import executor
from clip2nerf.utils.executor import ExecutorConfig, make_shards, map_shards


def test_make_shards_covers_items_in_order():
    shards = make_shards([f"o{i}" for i in range(7)], 3)
    assert [s.items for s in shards] == [["o0", "o1", "o2"], ["o3", "o4", "o5"], ["o6"]]
    assert [s.name for s in shards] == ["shard-00000", "shard-00001", "shard-00002"]
    assert make_shards([], 3) == []
    with pytest.raises(UserError, match="shard-size"):
        make_shards(["a"], 0)


def test_local_executor_runs_in_order_and_injection_fails_once(tmp_path):
    shards = make_shards(["a", "b", "c"], 2)
    before = list(executor.shard_wrappers)  # the session's Ray fixture may have one on
    with failing_marked_shards(tmp_path):
        got = list(map_shards(len, shards, (), ExecutorConfig("local")))
        assert [(s.index, r) for s, r in got] == [(0, 2), (1, 1)]
        (tmp_path / "shard-00001.fail").touch()
        with pytest.raises(InjectedFailure):
            list(map_shards(len, shards))  # the local executor does not retry
        assert not (tmp_path / "shard-00001.fail").exists()
        assert [r for _, r in map_shards(len, shards)] == [2, 1]  # the marker is used up
        with pytest.raises(UserError, match="--executor"):
            list(map_shards(len, shards, (), ExecutorConfig("dask")))  # type: ignore[arg-type]
    assert executor.shard_wrappers == before  # the block's wrapper is gone with it


def test_shard_wrappers_wrap_each_shard_function_in_order(monkeypatch):
    calls: list[str] = []

    def tagged(tag):
        def wrap(fn):
            def run(shard, *args):
                calls.append(f"{tag}:{shard.name}")
                return fn(shard, *args)
            return run
        return wrap

    monkeypatch.setattr(executor, "shard_wrappers", [tagged("outer"), tagged("inner")])
    got = [r for _, r in map_shards(len, make_shards(["a", "b", "c"], 2))]
    assert got == [2, 1]
    assert calls == ["inner:shard-00000", "outer:shard-00000", "inner:shard-00001",
                     "outer:shard-00001"]


@pytest.mark.slow
def test_ray_tasks_retry_an_injected_failure(ray_local):
    shards = make_shards([f"o{i}" for i in range(5)], 2)
    (ray_local / "shard-00001.fail").touch()
    # len is a builtin: Ray needs no import of this test module on its workers.
    got = dict((s.index, r) for s, r in map_shards(len, shards, (),
                                                   ExecutorConfig("ray", max_retries=2)))
    assert got == {0: 2, 1: 2, 2: 1}
    assert not (ray_local / "shard-00001.fail").exists()  # it failed once, then succeeded
    (ray_local / "shard-00000.fail").touch()
    with pytest.raises(UserError, match="shard-00000 .* failed after 0 retries"):
        list(map_shards(len, shards, (), ExecutorConfig("ray", max_retries=0)))


def _refuse(shard, log):
    """A shard function that records each attempt, then refuses its input."""
    with open(log, "a") as fh:
        fh.write(shard.name + "\n")
    raise UserError(f"{shard.items[0]}: bad input")


@pytest.mark.slow
def test_ray_user_error_fails_fast_without_retries(ray_local, tmp_path):
    import sys

    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import us
    log = tmp_path / "attempts.txt"
    with pytest.raises(UserError, match="^o0: bad input$"):
        list(map_shards(_refuse, make_shards(["o0"], 1), (str(log),),
                        ExecutorConfig("ray", max_retries=3)))
    assert log.read_text().splitlines() == ["shard-00000"]  # one attempt: not retried


def test_worker_cached_keeps_one_object_per_kind():
    loads: list[str] = []

    def loader(name):
        def load():
            loads.append(name)
            return object()
        return load

    a = executor.worker_cached("test-kind", "a", loader("a"))
    assert executor.worker_cached("test-kind", "a", loader("a")) is a  # reused, not reloaded
    other = executor.worker_cached("test-other-kind", "a", loader("other"))
    b = executor.worker_cached("test-kind", "b", loader("b"))  # replaces a
    assert b is not a and executor.worker_cached("test-kind", "a", loader("a")) is not a
    assert executor.worker_cached("test-other-kind", "a", loader("x")) is other
    assert loads == ["a", "other", "b", "a"]
