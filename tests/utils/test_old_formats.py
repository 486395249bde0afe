"""Files written by an older clip2nerf (main at 9680dbb, see tests/data/formats/make_formats.py)
still load to the same numbers, and its training checkpoints still resume to the weights its
uninterrupted runs ended with.

The numbers were computed on another CPU: another instruction set (SIMD width, oneDNN / MKL
kernel) sums in another order, so outputs are compared to float32 rounding and resumed runs to
what training makes of that rounding, each with its tolerance worked out where it is used.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

pytestmark = pytest.mark.numerics  # every test compares with numbers stored in the fixture

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


def _rounding(n_terms: int, magnitude: float) -> float:
    """How far two CPUs' float32 results of a stack of layers can be apart.

    Each CPU's result is within ``n_terms * 2^-24 * magnitude`` of the exact value, whatever
    order it sums in (the bound for products of matrices: ``n_terms`` = the terms summed along
    the path, the layers' fan-ins added up; ``magnitude`` = the same layers run on |inputs|
    with |weights|, i.e. the size of the sums); the two results are within twice that.
    """
    return 2 * n_terms * 2.0 ** -24 * magnitude


def _close(got, want, atol: float) -> None:
    torch.testing.assert_close(torch.as_tensor(got), torch.as_tensor(want), rtol=0, atol=atol)


def _same_weights(folder_a: Path, folder_b: Path, name: str, atol: float) -> None:
    a, b = load_file(str(folder_a / name)), load_file(str(folder_b / name))
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)
        else:  # step counters
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
        # A 12 -> 8 -> 4 MLP on sin/cos features: 20 terms along the path, |net| on |features|
        # <= 2.1: pre-activations within 5e-6; sigmoid' <= 1/4, trunc_exp' = sigma <= 0.6.
        _close(rgb, want[f"obj{i}.rgb"], atol=_rounding(12 + 8, 2.1))
        _close(sigma, want[f"obj{i}.sigma"], atol=_rounding(12 + 8, 2.1))
        # grids and padding are stored values, not computed: bit for bit
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
        got = model.embed(nerfs.matrices)
        directions = model.embed(nerfs.matrices, centered=False)
    # Two Linear layers of 8 terms and a norm of 8 squares; |net| on |rows| <= 7.8 against
    # |raw output| >= 1.89: unit directions within _rounding(24, 7.8 / 1.89) = 1.2e-5. Centring
    # normalises direction - centre, dividing that by |direction - centre| (0.021 here: the
    # tiny model's directions sit close to their mean): 5.6e-4 on unit vectors.
    spread = float((directions - model.decoder.embedding_center).norm(dim=-1).min())
    _close(got, want, atol=_rounding(8 + 8 + 8, 7.8 / 1.89) / spread)


def test_nf2vec_checkpoint_resumes_to_the_finished_run(tmp_path):
    from clip2nerf.nf2vec.train import train_nf2vec

    shutil.copytree(OLD / "nf2vec_ckpt", tmp_path / "run")
    model_cfg, train_cfg = make_formats.nf2vec_configs()
    logs: list[str] = []
    history = train_nf2vec(OLD / "nerfs", tmp_path / "run", model_cfg, train_cfg,
                           progress=False, log=logs.append)
    assert any("after epoch 1/2" in m for m in logs), logs
    assert [h["epoch"] for h in history] == [1, 2]
    # The finished weights come from another CPU, so not bit for bit (a resume against an
    # uninterrupted run on the same machine: tests/nf2vec/test_nf2vec_train.py). The
    # resumed epoch is 2 AdamW steps of at most ~lr each. Rounding is amplified there: the
    # first Linear's bias feeds BatchNorm, which cancels it, so its gradient is pure rounding
    # noise that AdamW divides by (sqrt(v) + eps) and turns into steps of ~lr * noise / eps
    # (measured under 4 instruction-set settings: <= 0.006 lr; every other weight <= 1e-6).
    # A resume that lost state is >= 0.1 lr off (measured: sampling RNG 0.25 lr, AdamW step
    # count 0.11 lr, LR schedule 0.9 lr, AdamW moments 3 lr). 2% of lr per step sits between.
    _same_weights(tmp_path / "run", OLD / "nf2vec", "model.safetensors",
                  atol=2 * 0.02 * train_cfg.lr)


def test_mapper_folder_maps_the_same():
    from clip2nerf.mapping.model import FeatureMapper

    model = FeatureMapper.from_pretrained(OLD / "mapper", direction="clip2nerf")
    config = make_formats.mapper_inputs()[0]
    assert (model.config.train, model.config.hidden_dim) == (config.train, config.hidden_dim)
    want = load_file(str(OLD / "mapper" / "expected.bin"))
    # A 6 -> 5 -> 8 MLP (GELU' <= 1.13) then a norm of 8 squares: 19 terms along the path;
    # |net| on |inputs| <= 4.9 (as a vector) against |raw output| >= 1.04: 1.1e-5 on unit
    # vectors.
    _close(model.map(want["inputs"].numpy()), want["mapped"],
           atol=_rounding(6 + 5 + 8, 4.9 / 1.04))


def test_mapper_checkpoint_resumes_to_the_finished_run(tmp_path):
    from clip2nerf.mapping.train import train_mapper

    shutil.copytree(OLD / "mapper_ckpt", tmp_path / "run")
    config, nerf, views, train_ids, val_ids = make_formats.mapper_inputs()
    res = train_mapper(config, nerf, views, train_ids, val_ids, out=tmp_path / "run",
                       progress=False)
    assert res.resumed_from_epoch == 2 and [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    # The finished weights come from another CPU, so not bit for bit (a resume is compared
    # bit for bit with a run on the same machine in tests/mapping/test_mapping.py). The
    # resumed 2 epochs are 8 AdamW steps (27 pairs, batches of 8) at lr <= 1e-2. Each
    # gradient is a sum over 8 pairs of 6 + 5 + 8 terms: rounding moves it by <= 2 * 152 *
    # 2^-24 = 1.8e-5 of its size, and an AdamW step (~lr times gradient / its running RMS) by
    # as much of lr: 8 steps, 1.5e-6 (measured under 4 instruction-set settings: <= 7.5e-8).
    # A resume that lost state is >= 9.5e-5 off (measured: AdamW step count; LR schedule
    # 6.2e-3, AdamW moments 1.4e-2).
    _same_weights(tmp_path / "run", OLD / "mapper", "model.safetensors",
                  atol=8 * config.train.lr * _rounding(8 * (6 + 5 + 8), 1.0))


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
    if tower == "knn":
        # Similarities of a unit thumbnail (grey: 3 terms, 4x4 pooling: 16, centring and
        # norm: 16 + 16) with bank rows of norm <= 4.72 (16 terms): 67 terms, within
        # _rounding(67, 4.72) = 3.8e-5 (and the 3rd and 4th nearest differ by >= 0.02: the
        # same neighbours everywhere). The softmax at temperature 0.02 moves its weights by
        # <= 2 / 0.02 times that (in sum), on caption embeddings of size <= 3.75: 1.4e-2 on
        # outputs of size <= 3.
        atol = _rounding(3 + 16 + 16 + 16 + 16, 4.72) * 2 / 0.02 * 3.75
    else:
        # conv 3x3x3 (27 terms), mean over 8x8 (64), Linear 8, Linear 8: 107 terms; the tower
        # on |inputs| with |weights| reaches 1392 (random N(0, 1) weights): 1.8e-2 on
        # outputs of size <= 138.
        atol = _rounding(27 + 64 + 8 + 8, 1392)
    _close(got, want["embeddings"], atol=atol)


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
    for k, v in encoder.state_dict().items():  # a copy, no arithmetic: bit for bit anywhere
        assert torch.equal(v, raw["model"][k]), k
    assert opt.state_dict()["state"].keys() == raw["optim"]["state"].keys()
    assert sched.state_dict()["last_epoch"] == raw["sched"]["last_epoch"]
