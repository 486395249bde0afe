"""``clip2nerf serve``: the HTTP API and web page over a catalogue (a demo workdir is one)."""

from __future__ import annotations

from pathlib import Path

import click

from clip2nerf.utils.device import DEVICE_CHOICES


@click.command(name="serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("clip2nerf-demo"),
              show_default=True, help="Catalogue folder: a finished `clip2nerf demo` workdir, "
                                      "grown with `clip2nerf catalogue add`.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 exposes the service to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--lock", type=click.Choice(["text", "all", "none"]), default="text",
              show_default=True,
              help="Model calls run one at a time: only the VLM text tower (its tokenizer is "
                   "not thread-safe), all of them, or none (benchmarks/bench_serve.py).")
def command(workdir, host, port, device, lock) -> None:
    """Serve search by text or photos, zero-shot labels of uploaded NeRFs and generation.

    Models load once; the catalogue is re-read when `clip2nerf catalogue add/remove` finishes
    (no restart). API docs at /docs.
    """
    from clip2nerf.errors import UserError

    try:
        import uvicorn

        from clip2nerf.serve.app import create_app
    except ImportError as exc:
        raise UserError(f"serving needs the 'serve' extra ({exc.name} is missing): "
                        "pip install 'clip2nerf[serve]'") from None
    from clip2nerf.utils.device import resolve_device

    click.echo(f"loading the models of {workdir} ...", err=True)
    app = create_app(workdir, device=str(resolve_device(device)), lock=lock)
    live = app.state.live.version
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"serving {len(live)} NeRFs ({live.name}) at http://{shown}:{port}/  "
               f"(API docs: http://{shown}:{port}/docs; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
