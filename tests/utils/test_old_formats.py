"""Files written by an older clip2nerf (main at 9680dbb, see tests/data/formats/make_formats.py)
still load to the same numbers, and its training checkpoints still resume to the weights its
uninterrupted runs ended with."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
OLD = FORMATS / "v9680dbb"
sys.path.insert(0, str(FORMATS))
import make_formats  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """The expected numbers were computed on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _close(got, want) -> None:
    """Weights are compared bit for bit; outputs to float32 rounding: the same kernels sum in
    another order when the input's memory alignment differs (seen: 1 ulp)."""
    torch.testing.assert_close(torch.as_tensor(got), torch.as_tensor(want), rtol=1e-6,
                               atol=1e-7)


def _same_weights(folder_a: Path, folder_b: Path, name: str) -> None:
    a, b = load_file(str(folder_a / name)), load_file(str(folder_b / name))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nerf_files_load_to_the_same_fields():
    from clip2nerf.nerf.io import load_nerf

    want = load_file(str(OLD / "nerfs" / "expected.bin"))
    for i in range(5):
        nf = load_nerf(OLD / "nerfs" / f"obj{i}.safetensors",
                       expected_config=make_formats.tiny_nerf_config())
        assert nf.object_id == f"obj{i}" and nf.meta["split"] == ("val" if i == 4 else "train")
        with torch.no_grad():
            rgb, sigma = nf.field(want["points"])
        _close(rgb, want[f"obj{i}.rgb"])
        _close(sigma, want[f"obj{i}.sigma"])
        assert torch.equal(nf.occupancy.binary.to(torch.uint8), want[f"obj{i}.occupancy"])
        if i == 0:
            assert torch.equal(nf.output_padding, want["obj0.output_padding"])
        else:
            assert nf.output_padding is None


def test_nf2vec_folder_embeds_the_same():
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.nf2vec.nerfs import load_nerf_set

    model = Nf2vec.from_pretrained(OLD / "nf2vec")
    assert model.config == make_formats.nf2vec_configs()[0]
    with safe_open(str(OLD / "nf2vec" / "expected.bin"), "pt") as fh:
        meta, want = fh.metadata(), fh.get_tensor("embeddings")
    assert model.space == meta["space"]
    nerfs = load_nerf_set(OLD / "nerfs", model.config.nerf)
    assert nerfs.ids == json.loads(meta["ids"])
    with torch.no_grad():
        _close(model.embed(nerfs.matrices), want)


def test_nf2vec_checkpoint_resumes_to_the_finished_run(tmp_path):
    from clip2nerf.nf2vec.train import train_nf2vec

    shutil.copytree(OLD / "nf2vec_ckpt", tmp_path / "run")
    model_cfg, train_cfg = make_formats.nf2vec_configs()
    logs: list[str] = []
    history = train_nf2vec(OLD / "nerfs", tmp_path / "run", model_cfg, train_cfg,
                           progress=False, log=logs.append)
    assert any("after epoch 1/2" in m for m in logs), logs
    assert [h["epoch"] for h in history] == [1, 2]
    _same_weights(tmp_path / "run", OLD / "nf2vec", "model.safetensors")


def test_mapper_folder_maps_the_same():
    from clip2nerf.mapping.model import FeatureMapper

    model = FeatureMapper.from_pretrained(OLD / "mapper", direction="clip2nerf")
    config = make_formats.mapper_inputs()[0]
    assert (model.config.train, model.config.hidden_dim) == (config.train, config.hidden_dim)
    want = load_file(str(OLD / "mapper" / "expected.bin"))
    _close(model.map(want["inputs"].numpy()), want["mapped"])


def test_mapper_checkpoint_resumes_to_the_finished_run(tmp_path):
    from clip2nerf.mapping.train import train_mapper

    shutil.copytree(OLD / "mapper_ckpt", tmp_path / "run")
    config, nerf, views, train_ids, val_ids = make_formats.mapper_inputs()
    res = train_mapper(config, nerf, views, train_ids, val_ids, out=tmp_path / "run",
                       progress=False)
    assert res.resumed_from_epoch == 2 and [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    _same_weights(tmp_path / "run", OLD / "mapper", "model.safetensors")


@pytest.mark.parametrize("tower", ["knn", "cnn"])
def test_offline_vlm_folder_embeds_the_same(tower):
    from clip2nerf.vlm.offline import OfflineVLM

    folder = OLD / f"vlm_{tower}"
    model = OfflineVLM.from_pretrained(folder)
    assert model.name == f"offline-{tower}-minilm-v1@fixture"
    assert model.config.image_tower == tower
    want = load_file(str(folder / "expected.bin"))
    with torch.no_grad():
        got = model.encoder(want["inputs"])
    assert torch.isfinite(got).all()
    _close(got, want["embeddings"])


def test_offline_vlm_checkpoint_keys_of_main_are_read():
    """The offline VLM's checkpoint said ``optim``/``sched``; it restores into the loop's
    objects like a checkpoint of the shared format."""
    from clip2nerf.utils.checkpoint import load_checkpoint
    from clip2nerf.vlm.offline import OfflineVLMConfig, build_image_encoder

    path = OLD / "vlm_ckpt" / "checkpoint.pt"
    raw = torch.load(path, weights_only=True)
    assert {"optim", "sched"} <= set(raw)  # really the old key names
    ckpt = load_checkpoint(path, "offline VLM training")
    assert ckpt.epoch == 1 and len(ckpt.history) == 1 and ckpt.config is None
    encoder = build_image_encoder(OfflineVLMConfig.from_dict(make_formats.TINY_CNN))
    opt = torch.optim.AdamW(encoder.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=4)
    ckpt.restore(encoder, opt, sched)
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, raw["model"][k]), k
    assert opt.state_dict()["state"].keys() == raw["optim"]["state"].keys()
    assert sched.state_dict()["last_epoch"] == raw["sched"]["last_epoch"]
