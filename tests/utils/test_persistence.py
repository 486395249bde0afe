"""The shared persistence rules: one from_dict policy for every model folder, one checked
weights loader, one checkpoint format with one error style, and training that neither reseeds
the caller's RNG nor edits the caller's config."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from clip2nerf.errors import UserError
from clip2nerf.utils.checkpoint import load_checkpoint, save_checkpoint, seeded

FORMATS = Path(__file__).resolve().parents[1] / "data" / "formats"
OLD = FORMATS / "v9680dbb"
sys.path.insert(0, str(FORMATS))
import make_formats  # noqa: E402


def _load(kind: str, folder: Path):
    from clip2nerf.mapping.model import FeatureMapper
    from clip2nerf.nf2vec.model import Nf2vec
    from clip2nerf.vlm.offline import OfflineVLM

    return {"nf2vec": Nf2vec, "mapper": FeatureMapper, "vlm_knn": OfflineVLM}[kind] \
        .from_pretrained(folder)


@pytest.mark.parametrize("kind,where", [("nf2vec", ()), ("mapper", ()), ("vlm_knn", ()),
                                        ("vlm_knn", ("model",)), ("nf2vec", ("encoder",))])
def test_unknown_config_keys_are_refused_by_name(tmp_path, kind, where):
    folder = tmp_path / kind
    shutil.copytree(OLD / kind, folder)
    cfg = json.loads((folder / "config.json").read_text())
    node = cfg
    for key in where:
        node = node[key]
    node["surprise"] = 1
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match=r"config.json.*unknown keys \['surprise'\]"):
        _load(kind, folder)


@pytest.mark.parametrize("kind,weights", [("nf2vec", "model.safetensors"),
                                          ("mapper", "model.safetensors"),
                                          ("vlm_knn", "image_encoder.safetensors")])
def test_every_folder_checks_weights_the_same_way(tmp_path, kind, weights):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / kind
    shutil.copytree(OLD / kind, folder)
    state = load_file(str(folder / weights))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 2)
    for bad, message in [(state[name].double(), "is float64, expected float32"),
                         (torch.full_like(state[name], float("nan")), "contains NaN"),
                         (state[name][:1], "do not match")]:
        save_file({**state, name: bad}, str(folder / weights))
        with pytest.raises(UserError, match=f"{weights}.*{name}.*{message}|"
                                            f"{weights}.*do not match.*{name}"):
            _load(kind, folder)
    (folder / weights).unlink()
    with pytest.raises(UserError, match="weights not found"):
        _load(kind, folder)


def test_newer_versions_are_refused(tmp_path):
    folder = tmp_path / "mapper"
    shutil.copytree(OLD / "mapper", folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "version": 7}))
    with pytest.raises(UserError, match="format version 7 is not supported.*upgrade"):
        _load("mapper", folder)


class _Linear(torch.nn.Linear):
    def __init__(self):
        super().__init__(2, 2)


def _objects():
    model = _Linear()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=10)
    return model, opt, sched


def test_checkpoint_round_trip_and_errors(tmp_path):
    model, opt, sched = _objects()
    path = save_checkpoint(tmp_path / "c.pt", epoch=3, model=model, optimizer=opt,
                           scheduler=sched, history=[{"epoch": 1, "loss": float("nan")}],
                           config={"lr": 1e-3, "widths": (1, 2)}, rng=torch.Generator().get_state())
    ckpt = load_checkpoint(path, "test")
    assert ckpt.epoch == 3 and ckpt.same_config({"widths": [1, 2], "lr": 1e-3})
    assert not ckpt.same_config({"widths": [1, 2], "lr": 2e-3})
    assert set(ckpt.extra) == {"rng"}
    other, opt2, sched2 = _objects()
    ckpt.restore(other, opt2, sched2)
    assert torch.equal(other.weight, model.weight)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save([1, 2], tmp_path / "list.pt")
    torch.save({"epoch": 1, "model": {}}, tmp_path / "partial.pt")
    torch.save({"format": "clip2nerf-checkpoint", "version": 9}, tmp_path / "newer.pt")
    for name, message in [("junk.pt", "unreadable checkpoint"), ("list.pt", "not a test"),
                          ("partial.pt", "missing"), ("newer.pt", "version 9")]:
        with pytest.raises(UserError, match=message) as info:
            load_checkpoint(tmp_path / name, "test")
        assert "\n" not in str(info.value) and "delete it" in str(info.value)
    small = torch.nn.Linear(3, 3)
    with pytest.raises(UserError, match="unreadable checkpoint"):
        ckpt.restore(small, torch.optim.AdamW(small.parameters()), sched2)


def test_seeded_leaves_the_callers_generator_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded(5):
        inside = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(5)
    assert torch.equal(inside, torch.rand(3))  # what torch.manual_seed(5) gave before


def test_nf2vec_training_keeps_the_callers_rng(tmp_path):
    from clip2nerf.nf2vec.train import train_nf2vec

    model_cfg, train_cfg = make_formats.nf2vec_configs()
    torch.manual_seed(11)
    state = torch.get_rng_state()
    train_nf2vec(OLD / "nerfs", tmp_path / "run", model_cfg, train_cfg, progress=False,
                 log=lambda m: None, stop_after=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_mapper_training_leaves_the_config_alone():
    from clip2nerf.mapping.train import train_mapper

    config, nerf, views, train_ids, val_ids = make_formats.mapper_inputs()
    before = config.to_dict()
    res = train_mapper(config, nerf, views, train_ids, val_ids, progress=False)
    assert config.to_dict() == before and config.train_ids_sha1 == ""
    assert res.model.config.train_ids_sha1 != "" and res.model.config is not config
