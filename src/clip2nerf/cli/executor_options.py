"""``--executor local|ray`` and its options, shared by the batch commands (not a command)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

import clip2nerf.cli.options as opt

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
            click.option("--shard-size", type=opt.SHARD_SIZE, default=default_shard_size,
                         show_default=default_shard_size is not None, help=shard_help),
            click.option("--max-retries", type=opt.RETRIES, default=3, show_default=True,
                         help="Reruns of a Ray task that failed or lost its worker."),
        ]
        for option in reversed(opts):
            fn = option(fn)
        return fn

    return wrap


def executor_config(executor: str, ray_address: str | None, shard_size: int,
                    max_retries: int, num_cpus: float = 1) -> ExecutorConfig:
    from clip2nerf.errors import UserError
    from clip2nerf.utils.executor import ExecutorConfig

    if executor != "ray" and ray_address is not None:
        raise UserError("--ray-address needs --executor ray")
    return ExecutorConfig(executor, ray_address, shard_size, max_retries,  # type: ignore[arg-type]
                          max(num_cpus, 1))
