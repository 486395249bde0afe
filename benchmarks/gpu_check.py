"""The GPU check: the batch stages timed on each device in one run, one table.

    python benchmarks/gpu_check.py --out /tmp/gpu-check --devices cpu cuda
    python benchmarks/gpu_check.py --out /tmp/gpu-check --devices cpu --tiny   # CI: cannot rot

On one small synthetic dataset (`synth --preset tiny`: 13 classes x 6 objects, 12 views), for
each device: fit NeRFs to some objects (`fit`), train nf2vec on them (`nf2vec train`), embed
them (`nf2vec embed`), embed every dataset view with the zero-shot VLM (`vlm embed-views`),
train nerf2clip (`map train`) and label the fitted NeRFs (`classify`'s batched path). Each stage
is the public command run in this process (click, the same code as the shell command; no
process start-up in the times), on its own output folder per device. A CUDA device is warmed up
(context, kernels) before its first stage; every other first-call cost is in the time, as a
user's run pays it.

Prints one row per stage: seconds on each device and each device's speed-up over the CPU, plus
what each stage did. `benchmarks/gpu_check.sh` runs this after the test suite's `gpu`-marked tests.

Text embeddings (the prompts of `classify`, the zero-shot VLM's ImageNet class sentences) come
from `--text-cache` when it holds them: a machine without the MiniLM wheel (the GPU machine
here cannot install it) runs on a cache filled by a run on a machine that has it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from pathlib import Path


def _stage_args(name: str, w: Path, dev: str, a: argparse.Namespace, ids: dict[str, list[str]]
                ) -> list[str]:
    d = w / dev
    data = str(w / "data")
    if name == "fit":
        objs = ",".join(ids["train"] + ids["val"] + ids["test"])
        return ["fit", "--data", data, "--out", str(d / "nerfs"), "--objects", objs,
                "--steps", str(a.fit_steps), "--device", dev, "--workers", "1", "--quiet"]
    if name == "nf2vec train":
        return ["nf2vec", "train", "--nerfs", str(d / "nerfs"), "--data", data,
                "--out", str(d / "nf2vec"), "--epochs", str(a.epochs), "--device", dev]
    if name == "nf2vec embed":
        return ["nf2vec", "embed", "--model", str(d / "nf2vec"), "--nerfs", str(d / "nerfs"),
                "--data", data, "--out", str(d / "nerf.safetensors"), "--device", dev]
    if name == "vlm embed-views":
        return ["vlm", "embed-views", "--data", data, "--out", str(d / "views"), "--vlm",
                "zeroshot", "--device", dev, "--overwrite", "--quiet"]
    if name == "map train":
        (d / "train.txt").write_text("\n".join(ids["train"]) + "\n")
        (d / "val.txt").write_text("\n".join(ids["val"]) + "\n")
        return ["map", "train", "--nerf-emb", str(d / "nerf.safetensors"),
                "--view-emb", str(d / "views"), "--direction", "nerf2clip",
                "--out", str(d / "nerf2clip"), "--epochs", str(a.map_epochs),
                "--split-ids", str(d / "train.txt"), "--val-ids", str(d / "val.txt"),
                "--overwrite", "--device", dev]
    raise ValueError(name)


def _classify(w: Path, dev: str, text_cache: Path, classes: list[str]) -> int:
    """`classify`'s batched path on the device's fitted NeRFs, prompts through the text cache."""
    from clip2nerf.apps import ZeroShotClassifier, load_mapper
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import TextEmbeddingCache, load_vlm

    d = w / dev
    vlm = TextEmbeddingCache(load_vlm("zeroshot", device=dev), text_cache)
    model = Nf2vec.from_pretrained(d / "nf2vec", dev)
    mapper = load_mapper(d / "nerf2clip", "nerf2clip", vlm, model, device=dev)
    files = sorted((d / "nerfs").glob("*.safetensors"))
    results = ZeroShotClassifier(model, mapper, vlm, classes, device=dev).classify_files(files)
    return len(results)


STAGES = ("fit", "nf2vec train", "nf2vec embed", "vlm embed-views", "map train", "classify")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="work folder (kept: reruns reuse "
                    "the dataset; each device's stages are rerun)")
    ap.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    ap.add_argument("--objects", type=int, default=24, help="NeRFs fitted per device "
                    "(2/3 train, the rest val and test)")
    ap.add_argument("--fit-steps", type=int, default=900, help="(the demo's)")
    ap.add_argument("--epochs", type=int, default=20, help="nf2vec epochs")
    ap.add_argument("--map-epochs", type=int, default=100)
    ap.add_argument("--tiny", action="store_true",
                    help="CI size: 6 objects, 30 fit steps, 2 + 5 epochs")
    ap.add_argument("--text-cache", type=Path, default=None,
                    help="text embeddings file [default: OUT/text-cache.safetensors]")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    if a.tiny:
        a.objects, a.fit_steps, a.epochs, a.map_epochs = 6, 30, 2, 5
    import torch

    from clip2nerf.cli.main import main as cli
    from clip2nerf.data.layouts import open_dataset

    w = a.out.resolve()
    w.mkdir(parents=True, exist_ok=True)
    # The zero-shot VLM keeps its ImageNet class sentences' embeddings in CLIP2NERF_HOME:
    # inside the work folder, the check carries everything it needs to another machine.
    os.environ.setdefault("CLIP2NERF_HOME", str(w / "home"))
    text_cache = a.text_cache or w / "text-cache.safetensors"
    if "cuda" in a.devices and not torch.cuda.is_available():
        raise SystemExit("--devices cuda: torch.cuda.is_available() is False on this machine")
    if not (w / "data" / "dataset.json").is_file():
        if cli(["synth", "--preset", "tiny", "--out", str(w / "data")]) != 0:
            raise SystemExit("synth failed")
    ds = open_dataset(w / "data")
    n_train = max(2, round(a.objects * 2 / 3))
    n_rest = max(1, (a.objects - n_train) // 2)
    ids = {"train": ds.object_ids("train")[:n_train], "val": ds.object_ids("val")[:n_rest],
           "test": ds.object_ids("test")[:n_rest]}
    classes = list(ds.classes)
    n_nerfs = sum(map(len, ids.values()))
    n_views = len(ds.object_ids()) * ds.get(ds.object_ids()[0]).n_views
    what = {"fit": f"{n_nerfs} NeRFs, {a.fit_steps} steps each",
            "nf2vec train": f"{a.epochs} epochs on {len(ids['train'])} NeRFs (cpu preset)",
            "nf2vec embed": f"{n_nerfs} NeRF files",
            "vlm embed-views": f"{n_views} views, EfficientNet-Lite0 at 160 px",
            "map train": f"nerf2clip, {a.map_epochs} epochs on {len(ids['train'])} objects",
            "classify": f"{n_nerfs} NeRF files, {len(classes)} classes"}
    seconds: dict[str, dict[str, float]] = {s: {} for s in STAGES}
    threads = torch.get_num_threads()
    failed: list[str] = []
    for dev in a.devices:
        shutil.rmtree(w / dev, ignore_errors=True)  # a rerun times the work again
        (w / dev).mkdir()
        if dev.startswith("cuda"):
            torch.zeros(1, device=dev).sum().item()  # CUDA context outside the timed stages
        for stage in STAGES:
            torch.set_num_threads(threads)  # as a new process starts: commands set their own
            t0 = time.perf_counter()
            try:
                if stage == "classify":
                    _classify(w, dev, text_cache, classes)
                elif cli(_stage_args(stage, w, dev, a, ids)) != 0:
                    raise RuntimeError("the command exited non-zero (its error is above)")
                if dev.startswith("cuda"):
                    torch.cuda.synchronize()
            except Exception:  # noqa: BLE001 - report it, and still time the other device
                traceback.print_exc()
                failed.append(f"{stage} on {dev}")
                break  # later stages read this one's output
            seconds[stage][dev] = time.perf_counter() - t0
            print(f"[{dev}] {stage}: {seconds[stage][dev]:.1f} s", flush=True)

    base = "cpu" if "cpu" in a.devices else a.devices[0]  # ratios: each device's speed-up
    others = [d for d in a.devices if d != base]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"\ntorch {torch.__version__}, {os.cpu_count()} CPUs, GPU: {gpu}; "
          f"torch threads at each stage's start {threads}")
    head = " | ".join(f"{d} (s)" for d in a.devices)
    ratios = " | ".join(f"{base}/{d}" for d in others)
    print(f"| stage | what | {head} |" + (f" {ratios} |" if ratios else ""))
    print("|---|---|" + "---|" * (len(a.devices) + len(others)))
    for stage in STAGES:
        row = seconds[stage]
        cells = " | ".join(f"{row[d]:.1f}" if d in row else "failed" for d in a.devices)
        rel = " | ".join(f"{row[base] / row[d]:.1f}x" if base in row and d in row else "-"
                         for d in others)
        print(f"| {stage} | {what[stage]} | {cells} |" + (f" {rel} |" if rel else ""))
    if failed:
        print("FAILED: " + ", ".join(failed))
    if a.json:
        a.json.write_text(json.dumps({"seconds": seconds, "what": what, "torch": torch.__version__,
                                      "gpu": gpu, "failed": failed}, indent=2))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
