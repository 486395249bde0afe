"""Write the old-format fixtures of ``tests/test_old_formats.py`` with a given clip2nerf.

The files here were written by main at commit 9680dbb (before the shared persistence and
checkpoint helpers), with::

    PYTHONPATH=/work/main/src OMP_NUM_THREADS=1 python tests/data/formats/make_formats.py \\
        tests/data/formats/v9680dbb

Every model is tiny (a few KB). Beside each model, ``expected.safetensors`` holds what that
clip2nerf computed with it on fixed inputs, so a later clip2nerf can show it reads the file to
the same numbers. Checkpoints are of interrupted runs; the finished run's weights are saved
beside them, so a test can resume the checkpoint and compare.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

TINY_NERF = {"n_freqs": 2, "hidden": 8, "n_hidden_layers": 1}


def tiny_nerf_config():
    from clip2nerf.nerf.config import NerfConfig

    return NerfConfig(**TINY_NERF)


def write_nerfs(out: Path) -> None:
    """``nerfs/``: 5 tiny NeRF files (4 train, 1 val), one with tiny-cuda-nn padding rows."""
    from clip2nerf.nerf.field import NerfField
    from clip2nerf.nerf.io import save_nerf
    from clip2nerf.nerf.occupancy import OccupancyGrid

    cfg = tiny_nerf_config()
    folder = out / "nerfs"
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(16, 3, generator=gen) * 1.2 - 0.6
    expected = {"points": points}
    for i in range(5):
        torch.manual_seed(100 + i)
        field = NerfField(cfg)
        grid = OccupancyGrid(torch.rand(4, 4, 4, generator=gen) > 0.5,
                             torch.tensor([-0.7, -0.7, -0.7, 0.7, 0.7, 0.7]))
        pad = torch.rand(12, cfg.hidden, generator=gen) if i == 0 else None
        meta = {"object_id": f"obj{i}", "class_name": ["chair", "lamp"][i % 2],
                "split": "val" if i == 4 else "train", "psnr": 20.0 + i}
        save_nerf(folder / f"obj{i}.safetensors", field, cfg, grid, meta, output_padding=pad)
        with torch.no_grad():
            rgb, sigma = field(points)
        expected[f"obj{i}.rgb"] = rgb
        expected[f"obj{i}.sigma"] = sigma
        expected[f"obj{i}.occupancy"] = grid.binary.to(torch.uint8)
        if pad is not None:
            expected[f"obj{i}.output_padding"] = pad
    save_file({k: v.contiguous() for k, v in expected.items()}, str(folder / "expected.bin"))


def nf2vec_configs():
    from clip2nerf.nf2vec.config import DecoderConfig, EncoderConfig, Nf2vecConfig, TrainConfig

    model = Nf2vecConfig(name="tiny-fixture", nerf=tiny_nerf_config(),
                         encoder=EncoderConfig(widths=(8,), embed_dim=8, row_positions=True,
                                               skip_zero_rows=True),
                         decoder=DecoderConfig(hidden=8, n_layers_before_skip=1,
                                               n_layers_after_skip=1, n_freqs=2))
    train = TrainConfig(epochs=2, batch_size=2, n_points=32, max_val_nerfs=0, seed=3)
    return model, train


def write_nf2vec(out: Path) -> None:
    """``nf2vec/`` (finished, 2 epochs) and ``nf2vec_ckpt/`` (stopped after epoch 1)."""
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.nf2vec.nerfs import load_nerf_set
    from clip2nerf.nf2vec.train import train_nf2vec

    model_cfg, train_cfg = nf2vec_configs()
    quiet = dict(progress=False, log=lambda m: None)
    train_nf2vec(out / "nerfs", out / "nf2vec", model_cfg, train_cfg, **quiet)
    train_nf2vec(out / "nerfs", out / "nf2vec_ckpt", model_cfg, train_cfg, stop_after=1, **quiet)
    model = Nf2vec.from_pretrained(out / "nf2vec")
    nerfs = load_nerf_set(out / "nerfs", model_cfg.nerf)
    with torch.no_grad():
        emb = model.embed(nerfs.matrices)
    save_file({"embeddings": emb.contiguous()}, str(out / "nf2vec" / "expected.bin"),
              metadata={"space": model.space, "ids": json.dumps(nerfs.ids)})


def mapper_inputs():
    from clip2nerf.mapping.config import MapperConfig, TrainConfig
    from clip2nerf.utils.embeddings import EmbeddingTable

    rng = np.random.default_rng(5)
    ids = [f"obj{i}" for i in range(12)]
    labels = ["chair", "lamp", "table"] * 4
    nerf = EmbeddingTable(rng.normal(size=(12, 8)).astype(np.float32), ids, labels,
                          "nf2vec:fixture@00000000")
    views = EmbeddingTable(rng.normal(size=(12, 3, 6)).astype(np.float32), ids, labels,
                           "vlm:fixture")
    config = MapperConfig(direction="clip2nerf", vlm_space=views.space, vlm_dim=6,
                          nf2vec_space=nerf.space, nf2vec_dim=8, hidden_dim=5,
                          train=TrainConfig(epochs=4, lr=1e-2, batch_size=8, seed=2))
    return config, nerf, views, ids[:9], ids[9:]


def write_mapper(out: Path) -> None:
    """``mapper/`` (finished, 4 epochs) and ``mapper_ckpt/`` (interrupted after epoch 2)."""
    from clip2nerf.mapping.model import FeatureMapper
    from clip2nerf.mapping.train import train_mapper

    config, nerf, views, train_ids, val_ids = mapper_inputs()
    train_mapper(config, nerf, views, train_ids, val_ids, out=out / "mapper", progress=False)
    config, *_ = mapper_inputs()

    def stop(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    try:
        train_mapper(config, nerf, views, train_ids, val_ids, out=out / "mapper_ckpt",
                     progress=False, on_epoch_end=stop)
    except KeyboardInterrupt:
        pass
    model = FeatureMapper.from_pretrained(out / "mapper")
    x = np.random.default_rng(6).normal(size=(4, 6)).astype(np.float32)
    save_file({"inputs": torch.from_numpy(x), "mapped": torch.from_numpy(model.map(x))},
              str(out / "mapper" / "expected.bin"))


TINY_CNN = {"image_tower": "cnn", "image_size": 16, "channels": [4], "convs_per_stage": 1}
TINY_KNN = {"image_tower": "knn", "image_size": 16, "knn_size": 4, "knn_k": 3, "bank_size": 6}


def write_vlm(out: Path) -> None:
    """``vlm_knn/`` and ``vlm_cnn/`` offline VLM folders (towers filled with fixed random
    values: the format is what matters), and ``vlm_ckpt/checkpoint.pt``, an offline-VLM
    training checkpoint after epoch 1 of 2 (a tiny CNN on a fake dataset)."""
    from clip2nerf.vlm.offline import OfflineVLMConfig, build_image_encoder, save_offline

    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(7)) * 2 - 1
    for name, spec in (("vlm_knn", TINY_KNN), ("vlm_cnn", TINY_CNN)):
        cfg = OfflineVLMConfig.from_dict(spec)
        torch.manual_seed(8)
        tower = build_image_encoder(cfg)
        with torch.no_grad():
            for key, t in tower.state_dict().items():
                if key == "bank_object":
                    t.copy_(torch.arange(len(t)) % 3)
                elif key.endswith("running_var"):
                    t.copy_(torch.rand(t.shape) + 0.5)
                elif t.is_floating_point() and t.dim() > 0:
                    t.copy_(torch.randn(t.shape))
        tower.eval()
        training = {"dataset": {"name": "fixture", "object_ids": ["a", "b", "c"]}}
        save_offline(out / name, cfg, tower, f"offline-{cfg.image_tower}-minilm-v1@fixture",
                     training)
        with torch.no_grad():
            y = tower(x)
        save_file({"inputs": x, "embeddings": y.contiguous()}, str(out / name / "expected.bin"))

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "vlm"))
    from vlm_helpers import make_fake_dataset

    import clip2nerf.vlm.train_offline as tr

    data = make_fake_dataset(out / "_fake" / "data", per_class=3, views=4, size=16)
    mcfg = OfflineVLMConfig.from_dict(TINY_CNN)
    tcfg = tr.OfflineTrainConfig(epochs=2, batch_size=4, views_per_epoch=2, val_split=None)
    real, calls = tr.augment, {"n": 0}

    def dying_augment(*a, **k):
        calls["n"] += 1
        if calls["n"] > 2:  # 2 steps per epoch: dies in epoch 2
            raise KeyboardInterrupt
        return real(*a, **k)

    tr.augment = dying_augment
    try:
        tr.prepare_offline(data, out / "_fake" / "model", mcfg, tcfg, device="cpu",
                           progress=False, log=lambda m: None)
    except KeyboardInterrupt:
        pass
    finally:
        tr.augment = real
    (ckpt,) = (out / "_fake").glob(".model.train-*/checkpoint.pt")
    (out / "vlm_ckpt").mkdir()
    shutil.copy(ckpt, out / "vlm_ckpt" / "checkpoint.pt")
    shutil.rmtree(out / "_fake")


def main(out: str) -> None:
    import subprocess

    root = Path(out)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    torch.set_num_threads(1)
    write_nerfs(root)
    write_nf2vec(root)
    write_mapper(root)
    write_vlm(root)
    import clip2nerf

    src = Path(clip2nerf.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    (root / "WRITTEN_BY.json").write_text(json.dumps(
        {"clip2nerf_src": str(src), "commit": commit, "torch": torch.__version__}, indent=1)
        + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
