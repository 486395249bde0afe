"""Run a batch stage's work as shards of objects, here (``local``) or on a Ray cluster (``ray``).

A stage (fitting NeRFs, embedding NeRFs) splits the objects still to do into shards and runs
one function per shard. Each shard function writes its per-object results atomically
(``clip2nerf.utils.io``) and skips objects whose result is already complete, so a shard that
fails or loses its worker can simply run again: no duplicates, no gaps. Results come back to
the caller as shards finish, for the manifest and the progress bar.

- ``local``: shards run one after another in this process (commands keep their own
  ``--workers`` process pools for local parallelism).
- ``ray``: each shard is a Ray task (``max_retries`` covers both a lost worker and an
  exception in the task, except a ``UserError``: bad input fails at once, unretried; ``num_gpus=1`` per task when the cluster has GPUs and the stage is not
  pinned to the CPU). ``address=None`` starts a local Ray instance; ``"auto"`` or
  ``"ray://host:10001"`` joins an existing cluster, whose workers must see the same paths
  (a shared filesystem) and have clip2nerf installed. Ray is the optional extra
  ``pip install 'clip2nerf[ray]'``.

:data:`shard_wrappers` (empty in normal runs) wraps every shard function before its shards
run: the tests' fault injection (``tests/shard_faults.py``) makes chosen shards fail once there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from clip2nerf.errors import UserError
from clip2nerf.utils import bounds

ExecutorKind = Literal["local", "ray"]
EXECUTOR_CHOICES = ("local", "ray")

T = TypeVar("T")

ShardWrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
"""Takes a shard function ``fn(shard, *args)`` and returns one with the same signature."""
shard_wrappers: list[ShardWrapper] = []
"""Applied by :func:`map_shards`, in order (the last one outermost), to every shard function
before its shards run (``fn = wrap(fn)``, in this process; for Ray the wrapped function must
pickle). Empty in normal runs: an extension point for tests (``tests/shard_faults.py`` fails
chosen shards once to exercise retries and resumes)."""


@dataclass
class ExecutorConfig:
    """Where shards run."""

    kind: ExecutorKind = "local"
    """``local``: in this process; ``ray``: one Ray task per shard."""
    address: str | None = None
    """Ray cluster address (``auto``, ``ray://host:10001``); None starts a local instance."""
    shard_size: int = 8
    """Objects per shard (per Ray task)."""
    max_retries: int = 3
    """Times Ray reruns a shard whose task raised or whose worker died."""
    num_cpus: float = 1
    """CPUs reserved per Ray task (match the stage's torch threads)."""


@dataclass
class Shard:
    """``index``-th shard of a run: its ``items`` (object ids or files)."""

    index: int
    items: list[str]

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"

    def __len__(self) -> int:
        return len(self.items)


def make_shards(items: Sequence[str], shard_size: int) -> list[Shard]:
    """Consecutive shards of at most ``shard_size`` items, in order."""
    bounds.SHARD_SIZE.check(shard_size, "--shard-size")
    return [Shard(i, list(items[lo:lo + shard_size]))
            for i, lo in enumerate(range(0, len(items), shard_size))]


@dataclass
class _Refused:
    """A Ray shard task's UserError, returned instead of raised so that Ray does not retry it:
    bad input fails the same way every time, so it fails fast (``map_shards`` raises it)."""

    error: UserError


def _run_shard_ray(fn: Callable[..., T], shard: Shard, args: tuple[Any, ...]) -> T | _Refused:
    try:
        return fn(shard, *args)
    except UserError as exc:
        return _Refused(exc)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _init_ray(address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'clip2nerf[ray]' "
                        "(or pip install 'ray[default]')") from None
    if not ray.is_initialized():
        try:
            if address is None:  # a local instance, just for this command
                ray.init(include_dashboard=False, configure_logging=False)
            else:  # a cluster's own settings apply (Ray Client takes few init options)
                ray.init(address=address)
        except ConnectionError as exc:
            raise UserError(f"--ray-address {address}: cannot join a Ray cluster ({exc})") \
                from None
    return ray


def map_shards(fn: Callable[..., T], shards: Sequence[Shard], args: tuple[Any, ...] = (),
               config: ExecutorConfig | None = None, use_gpu: bool = False
               ) -> Iterator[tuple[Shard, T]]:
    """Run ``fn(shard, *args)`` for every shard; yield ``(shard, result)`` as each ends.

    ``fn`` must be a module-level function (Ray imports it on the workers) whose arguments
    and result pickle. With ``use_gpu`` a Ray task asks for one GPU when the cluster has any.
    A shard that still fails after ``max_retries`` raises here (the results already yielded
    stay valid; a rerun skips them). ``fn`` is wrapped by :data:`shard_wrappers` first.
    """
    config = config or ExecutorConfig()
    for wrap in shard_wrappers:
        fn = wrap(fn)
    if config.kind == "local":
        for shard in shards:
            yield shard, fn(shard, *args)
        return
    if config.kind != "ray":
        raise UserError(f"--executor {config.kind!r}: expected one of "
                        f"{', '.join(EXECUTOR_CHOICES)}")
    if not shards:
        return
    ray = _init_ray(config.address)
    gpus = 1 if use_gpu and ray.cluster_resources().get("GPU", 0) > 0 else 0
    task = ray.remote(_run_shard_ray).options(num_cpus=config.num_cpus, num_gpus=gpus,
                                              max_retries=config.max_retries,
                                              retry_exceptions=True)
    fn_ref = ray.put(fn)
    args_ref = ray.put(args)
    pending = {task.remote(fn_ref, shard, args_ref): shard for shard in shards}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                shard = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    # A task's own exception comes wrapped: its first line names the Ray
                    # worker, not the problem. A UserError (bad input) is raised as it is.
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, UserError):
                        raise cause from None
                    why = str(cause or exc).splitlines()[0]
                    raise UserError(f"{shard.name} ({len(shard.items)} objects, first "
                                    f"{shard.items[0]!r}) failed after {config.max_retries} "
                                    f"retries: {why}") from None
                if isinstance(result, _Refused):  # bad input: not retried
                    raise result.error from None
                yield shard, result
    finally:
        for ref in pending:
            ray.cancel(ref)


_worker_cache: dict[str, tuple[Hashable, Any]] = {}
_worker_cache_lock = threading.Lock()


def worker_cached(kind: str, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, kept in this process for the next shard task that asks for the same ``key``.

    The shard tasks of a run mostly share worker processes, so a model or index loaded by
    one task is reused by the next instead of read again per shard. One object is kept per
    ``kind``: asking with another key drops the old object, then loads the new one (a worker
    never holds two models of one kind).

    Args:
        kind: what is cached, e.g. ``"nf2vec"``, ``"vlm"``, ``"faiss-index"``.
        key: identifies the object (e.g. its path, device and a stamp of its files).
        load: makes the object when it is not cached.
    """
    with _worker_cache_lock:
        hit = _worker_cache.get(kind)
        if hit is not None and hit[0] == key:
            return hit[1]
        _worker_cache.pop(kind, None)  # free the old object before loading another
        value = load()
        _worker_cache[kind] = (key, value)
        return value


def gpu_wanted(device: str) -> bool:
    """Whether a stage run with ``--device device`` should ask Ray for GPUs."""
    return device != "cpu"


__all__ = ["EXECUTOR_CHOICES", "ExecutorConfig", "Shard", "ShardWrapper", "gpu_wanted",
           "make_shards", "map_shards", "ray_available", "shard_wrappers", "worker_cached"]
