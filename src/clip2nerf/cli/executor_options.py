"""``--executor local|ray`` and its options, shared by the batch commands (not a command)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from clip2nerf.utils.executor import ExecutorConfig

EXECUTOR_CHOICES = ("local", "ray")  # = clip2nerf.utils.executor.EXECUTOR_CHOICES


def executor_options(default_shard_size: int | None,
                     shard_help: str = "Objects per Ray task."
                     ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add --executor, --ray-address, --shard-size, --max-retries to a click command."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        opts = [
            click.option("--executor", type=click.Choice(EXECUTOR_CHOICES), default="local",
                         show_default=True,
                         help="local: this machine; ray: one Ray task per shard of objects "
                              "(needs pip install 'clip2nerf[ray]').", ),
            click.option("--ray-address", default=None, metavar="ADDR",
                         help="Ray cluster to join (auto, ray://HOST:10001); default: start a "
                              "local Ray instance. Workers must see the same paths."),
            click.option("--shard-size", type=int, default=default_shard_size,
                         show_default=default_shard_size is not None, help=shard_help),
            click.option("--max-retries", type=int, default=3, show_default=True,
                         help="Reruns of a Ray task that failed or lost its worker."),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return wrap


def executor_config(executor: str, ray_address: str | None, shard_size: int,
                    max_retries: int, num_cpus: float = 1) -> ExecutorConfig:
    from clip2nerf.errors import UserError
    from clip2nerf.utils.executor import ExecutorConfig

    if executor != "ray" and ray_address is not None:
        raise UserError("--ray-address needs --executor ray")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: must be at least 1")
    if max_retries < 0:
        raise UserError(f"--max-retries {max_retries}: must be 0 or more")
    return ExecutorConfig(executor, ray_address, shard_size, max_retries,  # type: ignore[arg-type]
                          max(num_cpus, 1))
