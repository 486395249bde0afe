"""``clip2nerf import``: the paper's own artefacts (nf2vec NeRF trees, checkpoints, embeddings)."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt


@click.group(name="import", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Read files made by the reference code (nf2vec, clip2nerf, gmnerf, ShapeNeRF-Text).

    .pth files are loaded with torch.load(weights_only=True) only: a file that needs
    unpickling of Python code is refused.
    """


@command.command("nerfs")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <object_id>.safetensors NeRFs and manifest.json.")
@click.option("--limit", type=opt.LIMIT, default=None, help="Import at most this many objects.")
@click.option("--overwrite", is_flag=True, help="Convert objects that already have a file.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def nerfs(root, out, limit, overwrite, quiet):
    """nf2vec NeRFs ROOT/<class>/<id>/{nerf_weights.pth, grid.pth} -> our NeRF files.

    ROOT may be the gmnerf download (its nerf/shapenet/mlp folder is found). Resumable:
    rerun the same command and converted objects are skipped.
    """
    from tqdm import tqdm

    from clip2nerf.interop.nerf_tree import import_tree, list_tree, tree_root

    total = len(list_tree(tree_root(root)))
    bar = tqdm(total=min(total, limit or total), unit="nerf", disable=quiet, desc="import")
    counts = {"new": 0, "kept": 0}

    def done(_oid, skipped):
        counts["kept" if skipped else "new"] += 1
        bar.update(1)

    entries = import_tree(root, out, limit=limit, overwrite=overwrite, on_done=done)
    bar.close()
    click.echo(f"{len(entries)} NeRFs in {out} ({counts['new']} converted, {counts['kept']} "
               f"already there); manifest: {out / 'manifest.json'}")


@command.command("nf2vec")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="nf2vec model folder to write (config.json + model.safetensors).")
def nf2vec(checkpoint, out):
    """A reference nf2vec checkpoint (encoder/decoder dict) -> an nf2vec model folder.

    Encoder and decoder are loaded (tcnn input layout, raw embeddings as nf2vec exports them,
    nf2vec's added skip in the decoder); a checkpoint without a decoder cannot decode.
    """
    from clip2nerf.interop.checkpoints import load_reference_nf2vec

    model = load_reference_nf2vec(checkpoint)
    model.save_pretrained(out)
    click.echo(f"wrote {out} (space {model.space}"
               + ("" if model.config.decoder_trained else "; no decoder") + ")")


@command.command("mapper")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--direction", type=click.Choice(["clip2nerf", "nerf2clip"]), required=True)
@click.option("--nf2vec", "nf2vec_model", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The imported reference nf2vec model folder (its space is recorded).")
@click.option("--vlm", "vlm_spec", default=None,
              help="Your CLIP ViT-B/32 (e.g. clip or a model folder): its space is recorded.")
@click.option("--vlm-space", default=None,
              help="Or the space name itself (the 'space' of an embeddings file made with that "
                   "model, e.g. vlm:clip-vit768-p32-d512@<hash>), without loading the model.")
@click.option("--input-scale", type=opt.INPUT_SCALE, default=1.0, show_default=True,
              help="Multiply inputs by this (the reference trained on unnormalised CLIP "
                   "features; our VLM embeddings are unit vectors).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def mapper(checkpoint, direction, nf2vec_model, vlm_spec, vlm_space, input_scale, out):
    """A reference clip2nerf / nerf2clip checkpoint ('fmn' entry) -> a mapper folder."""
    from clip2nerf.errors import UserError
    from clip2nerf.interop.checkpoints import load_reference_mapper
    from clip2nerf.nf2vec import Nf2vec

    if (vlm_spec is None) == (vlm_space is None):
        raise UserError("give exactly one of --vlm and --vlm-space")
    vlm_dim = None
    if vlm_spec is not None:
        from clip2nerf.vlm.factory import load_vlm

        vlm = load_vlm(vlm_spec, device="cpu")
        vlm_space, vlm_dim = vlm.space, vlm.dim
    space = Nf2vec.from_pretrained(nf2vec_model).space
    model = load_reference_mapper(checkpoint, direction, vlm_space, space, input_scale)
    if vlm_dim is not None and vlm_dim != model.config.vlm_dim:
        raise UserError(f"--vlm {vlm_spec}: embeddings of size {vlm_dim}, but {checkpoint} "
                        f"maps {model.config.vlm_dim}-d VLM embeddings")
    model.save_pretrained(out)
    click.echo(f"wrote {out} ({direction}, {vlm_space} <-> {space})")


@command.command("shapenerf-text")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--nf2vec", "nf2vec_model", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The imported reference nf2vec model folder (names the vectors' space).")
@click.option("--split", default="train", show_default=True, help="train, val or test.")
@click.option("--nerfs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Imported NeRF folder: gives ids <class>_<id> and classes.")
@click.option("--vlm", "vlm_spec", default=None,
              help="Also embed the captions with this VLM (for map train --caption-emb).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for nerf_emb.safetensors, captions.json [, caption_emb.safetensors].")
@click.option("--device", default="auto", show_default=True)
def shapenerf_text(root, nf2vec_model, split, nerfs, vlm_spec, out, device):
    """ShapeNeRF-Text: nf2vec embeddings + captions -> an embeddings table + captions."""
    from clip2nerf.interop.embeddings import classes_from_nerfs, read_shapenerf_text
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.utils.embeddings import EmbeddingTable
    from clip2nerf.utils.io import atomic_write_json

    space = Nf2vec.from_pretrained(nf2vec_model).space
    classes = classes_from_nerfs(nerfs) if nerfs else None
    table, captions = read_shapenerf_text(root, split, space, classes)
    out.mkdir(parents=True, exist_ok=True)
    table.save(out / "nerf_emb.safetensors")
    atomic_write_json(out / "captions.json", captions)
    msg = f"{len(table)} objects: {out / 'nerf_emb.safetensors'}, {out / 'captions.json'}"
    if vlm_spec:
        from clip2nerf.vlm.factory import load_vlm

        vlm = load_vlm(vlm_spec, device=device)
        vecs = vlm.embed_texts([captions[i] for i in table.ids])
        EmbeddingTable(vecs, table.ids, table.labels, vlm.space,
                       {"texts": [captions[i] for i in table.ids]}).save(
            out / "caption_emb.safetensors")
        msg += f", {out / 'caption_emb.safetensors'} ({vlm.space})"
    click.echo(msg)


@command.command("nf2vec-embeddings")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--nf2vec", "nf2vec_model", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def nf2vec_embeddings(root, nf2vec_model, split, out):
    """nf2vec's exported ROOT/<split>/*.h5 embeddings -> an embeddings file (needs h5py)."""
    from clip2nerf.interop.embeddings import read_nf2vec_h5
    from clip2nerf.nf2vec import Nf2vec

    table = read_nf2vec_h5(root, split, Nf2vec.from_pretrained(nf2vec_model).space)
    table.save(out)
    click.echo(f"{len(table)} embeddings -> {out}")
