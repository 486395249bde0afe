"""``clip2nerf`` entry point: a click group whose subcommands load lazily.

Each subcommand lives in ``clip2nerf.cli.<module>`` as a click object named ``command``;
importing it only when invoked keeps ``clip2nerf --help`` fast (no torch import).
"""

from __future__ import annotations

import importlib
import sys

import click

from clip2nerf import __version__
from clip2nerf.errors import UserError

# name -> (module under clip2nerf.cli, one-line help shown by `clip2nerf --help`).
# Kept in data-flow order (DESIGN.md §2).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "Make the bundled procedural object dataset (views, depth, cameras, captions)."),
    "fit": ("fit", "Fit NeRFs (nf2vec architecture) to a dataset's views; resumable, with a PSNR manifest."),
    "render": ("render", "Render views of a NeRF file to a grid PNG (dataset cameras or an orbit)."),
    "render-views": ("render_views", "Render a dataset's views from its NeRFs into a new dataset folder."),
    "nf2vec": ("nf2vec", "Train the NeRF meta-encoder/decoder, embed NeRF files, decode embeddings."),
    "augment": ("augment", "Synthetic-to-real images of a dataset's objects: photo composites, ControlNet."),
    "caption": ("caption", "Caption a dataset's objects with BLIP-2 (stored per captioner)."),
    "vlm": ("vlm", "Vision-language models: embed images/text/dataset views; prepare the offline model."),
    "map": ("map", "Train the clip2nerf / nerf2clip mapping networks between VLM and nf2vec spaces."),
    "index": ("index", "Build a cosine k-NN gallery (faiss) from an embeddings file."),
    "classify": ("classify", "Zero-shot labels of NeRF files (nf2vec -> nerf2clip -> prompts)."),
    "search": ("search", "Retrieve NeRFs from a text or image query (clip2nerf -> k-NN)."),
    "generate": ("generate", "Render a NeRF generated from text or images (clip2nerf -> decoder)."),
    "describe": ("describe", "Nearest captions of NeRF files (nf2vec -> nerf2clip -> caption bank)."),
    "eval": ("eval", "The paper's tables and figures on a dataset, as a Markdown + PNG report."),
    "import": ("importer", "The paper's artefacts: nf2vec NeRF trees, nf2vec / clip2nerf checkpoints, ShapeNeRF-Text."),
    "export": ("exporter", "Write NeRF files as an nf2vec tree (nerf_weights.pth + grid.pth) for the reference code."),
    "demo": ("demo", "The whole chain on bundled data, end to end, cached in a workdir."),
    "serve": ("serve", "HTTP API + web page over a NeRF catalogue (a demo workdir is one)."),
    "catalogue": ("catalogue", "Add / remove NeRFs of a served catalogue, atomically."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module = importlib.import_module(f"clip2nerf.cli.{SUBCOMMANDS[cmd_name][0]}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clip2nerf")
def cli() -> None:
    """clip2nerf: search, label and generate NeRFs from images and text.

    NeRFs are embedded from their MLP weights (nf2vec), images and text by a frozen
    vision-language model, and small mapping networks connect the two spaces.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a UserError becomes one ``error: ...`` line and exit status 2."""
    try:
        rv = cli.main(args=argv, prog_name="clip2nerf", standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        # Usage errors: one line that names the option, plus a pointer to --help.
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except OSError as exc:
        # A path the user gave cannot be read or written (permissions, a full disk, a file
        # where a folder should be): one line naming it, never a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"error: cannot use{where}: {exc.strerror or exc}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted; finished work is kept and the next run resumes", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
