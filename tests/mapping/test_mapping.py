import json

import numpy as np
import pytest
import torch
from linked_tables import linked_tables, split_ids

from clip2nerf.errors import UserError
from clip2nerf.mapping import (
    FeatureMapper,
    MapperConfig,
    TrainConfig,
    build_pairs,
    class_recall_at_1,
    cosine_loss,
    train_mapper,
)
from clip2nerf.utils.embeddings import EmbeddingTable


@pytest.fixture(scope="module")
def tables():
    return linked_tables(n_classes=4, per_class=6, n_views=5, vlm_dim=16, nf2vec_dim=32, seed=1)


def make_config(direction, tables, **train):
    nerf, views, _ = tables
    return MapperConfig(direction, views.space, views.dim, nerf.space, nf2vec_dim=nerf.dim,
                        hidden_dim=24, train=TrainConfig.paper(direction, **train))


def test_cosine_loss_hand_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    # 1 - cos: 0, 2, 1 - 1/sqrt(2)
    expected = (0.0 + 2.0 + (1 - 2 ** -0.5)) / 3
    assert float(cosine_loss(a, b)) == pytest.approx(expected, abs=1e-6)


def test_architecture_matches_paper():
    cfg = MapperConfig("clip2nerf", "vlm:x", 512, "nf2vec:y")
    layers = FeatureMapper(cfg).net
    assert [type(m).__name__ for m in layers] == ["Linear", "GELU", "Linear"]
    assert (layers[0].in_features, layers[0].out_features, layers[2].out_features) == (512, 768,
                                                                                      1024)
    back = FeatureMapper(MapperConfig("nerf2clip", "vlm:x", 512, "nf2vec:y")).net
    assert (back[0].in_features, back[2].out_features) == (1024, 512)


def test_paper_defaults_per_direction():
    assert (TrainConfig.paper("clip2nerf").epochs, TrainConfig.paper("clip2nerf").lr) == (150, 1e-5)
    t = TrainConfig.paper("nerf2clip", epochs=3)
    assert (t.epochs, t.lr, t.paper_epochs, t.paper_lr) == (3, 1e-3, 100, 1e-3)
    assert (t.batch_size, t.weight_decay) == (64, 1e-2)


def test_clip2nerf_pairs_every_view_to_its_nerf(tables):
    nerf, views, captions = tables
    cfg = make_config("clip2nerf", tables)
    ids = nerf.ids[:3]
    pairs = build_pairs(cfg, nerf, views, ids)
    assert pairs.inputs.shape == (3 * 5, views.dim)
    np.testing.assert_array_equal(pairs.inputs[5 + 2], views.vectors[1, 2])
    np.testing.assert_array_equal(pairs.targets[5 + 2], nerf.vectors[1])
    cfg.multimodal = True
    mm = build_pairs(cfg, nerf, views, ids, captions)
    assert len(mm) == 3 * 5 + 3
    np.testing.assert_array_equal(mm.inputs[-1], captions.vectors[2])
    np.testing.assert_array_equal(mm.targets[-1], nerf.vectors[2])
    # Targets are held once per object (not once per view: 4.6 GB at the paper's size).
    assert pairs.object_targets.shape == (3, nerf.dim)
    np.testing.assert_array_equal(pairs.object_targets[pairs.object_index], pairs.targets)


def test_nerf2clip_targets_mean_of_fixed_view_subset(tables):
    nerf, views, _ = tables
    cfg = make_config("nerf2clip", tables, seed=3)
    cfg.n_views = 2
    ids = nerf.ids[:6]
    a = build_pairs(cfg, nerf, views, ids)
    b = build_pairs(cfg, nerf, views, ids)
    np.testing.assert_array_equal(a.targets, b.targets)  # fixed per seed
    for i in range(6):
        # The target is the mean of exactly two distinct views of object i.
        v = views.vectors[i]
        means = [(v[p] + v[q]) / 2 for p in range(5) for q in range(p + 1, 5)]
        assert min(np.abs(m - a.targets[i]).max() for m in means) < 1e-6
    full = build_pairs(cfg, nerf, views, ids, subset_views=False)
    # a float32 mean of 5 unit-vector components two ways: <= 5 x 6e-8 apart
    np.testing.assert_allclose(full.targets, views.vectors[:6].mean(axis=1), atol=1e-6)
    cfg.n_views = 9
    with pytest.raises(UserError, match="only 5 views"):
        build_pairs(cfg, nerf, views, ids)


@pytest.mark.parametrize("direction", ["clip2nerf", "nerf2clip"])
def test_training_lowers_loss(tables, direction):
    nerf, views, _ = tables
    cfg = make_config(direction, tables, epochs=6, lr=3e-3, batch_size=8)
    res = train_mapper(cfg, nerf, views, nerf.ids[:18], nerf.ids[18:], progress=False)
    losses = [h["train_loss"] for h in res.history]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0]
    assert res.history[-1]["val_loss"] < res.history[0]["val_loss"]
    out = res.model.map(views.vectors[0, 0] if direction == "clip2nerf" else nerf.vectors[0])
    assert out.shape == (cfg.out_dim,) and np.linalg.norm(out) == pytest.approx(1, abs=1e-5)


def test_deterministic_given_seed(tables):
    nerf, views, _ = tables
    runs = [train_mapper(make_config("clip2nerf", tables, epochs=2, lr=1e-3, seed=s), nerf,
                         views, nerf.ids, progress=False).model for s in (5, 5, 6)]
    sd = [m.state_dict() for m in runs]
    assert all(torch.equal(sd[0][k], sd[1][k]) for k in sd[0])
    assert not torch.equal(sd[0]["net.0.weight"], sd[2]["net.0.weight"])


def test_resume_after_interruption_matches_uninterrupted_run(tables, tmp_path):
    nerf, views, _ = tables

    def cfg():
        return make_config("nerf2clip", tables, epochs=4, lr=1e-3, batch_size=8)

    full = train_mapper(cfg(), nerf, views, nerf.ids[:18], nerf.ids[18:], out=tmp_path / "a",
                        progress=False)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_mapper(cfg(), nerf, views, nerf.ids[:18], nerf.ids[18:], out=tmp_path / "b",
                     progress=False, on_epoch_end=interrupt)
    assert not (tmp_path / "b" / "model.safetensors").exists()
    resumed = train_mapper(cfg(), nerf, views, nerf.ids[:18], nerf.ids[18:],
                           out=tmp_path / "b", progress=False)
    assert resumed.resumed_from_epoch == 2 and len(resumed.history) == 4
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Other settings in the same folder are refused, not silently mixed.
    with pytest.raises(UserError, match="other settings"):
        train_mapper(make_config("nerf2clip", tables, epochs=5, lr=1e-3, batch_size=8), nerf,
                     views, nerf.ids[:18], out=tmp_path / "b", progress=False)
    with pytest.raises(UserError, match="other settings"):
        train_mapper(cfg(), nerf, views, nerf.ids[:17], out=tmp_path / "b", progress=False)


def test_save_load_round_trip_and_mismatch_refused(tables, tmp_path):
    nerf, views, _ = tables
    cfg = make_config("clip2nerf", tables, epochs=1, lr=1e-3)
    model = train_mapper(cfg, nerf, views, nerf.ids, progress=False).model
    model.save_pretrained(tmp_path / "m")
    back = FeatureMapper.from_pretrained(tmp_path / "m", direction="clip2nerf",
                                         vlm_space=views.space, vlm_dim=views.dim,
                                         nf2vec_space=nerf.space)
    assert back.config == model.config
    x = views.vectors[:3, 0]
    np.testing.assert_allclose(back.map(x), model.map(x), atol=1e-6)
    with pytest.raises(UserError, match="trained with 'vlm:synthetic'"):
        FeatureMapper.from_pretrained(tmp_path / "m", vlm_space="vlm:openai/clip-vit-base-patch32")
    with pytest.raises(UserError, match="size 512"):
        FeatureMapper.from_pretrained(tmp_path / "m", vlm_dim=512)
    with pytest.raises(UserError, match="nf2vec model"):
        FeatureMapper.from_pretrained(tmp_path / "m", nf2vec_space="nf2vec:other")
    with pytest.raises(UserError, match="nerf2clip mapper is needed"):
        FeatureMapper.from_pretrained(tmp_path / "m", direction="nerf2clip")
    with pytest.raises(UserError, match="expects inputs of shape"):
        back.map(np.zeros((2, 512), np.float32))
    other = EmbeddingTable(views.vectors, views.ids, views.labels, "vlm:other")
    with pytest.raises(UserError, match="trained on 'vlm:synthetic'"):
        back.map_table(other)
    multi = back.map_multiview(views.vectors[:3, :2])
    two = back.map(views.vectors[:3, :2].reshape(6, -1)).reshape(3, 2, -1).sum(axis=1)
    np.testing.assert_allclose(multi, two / np.linalg.norm(two, axis=1, keepdims=True), atol=1e-6)
    mapped = back.map_table(views)
    assert mapped.vectors.shape == (len(views), 5, nerf.dim) and mapped.space == nerf.space


def test_corrupt_or_mismatched_files_refused(tables, tmp_path):
    nerf, views, _ = tables
    model = FeatureMapper(make_config("clip2nerf", tables))
    model.save_pretrained(tmp_path / "m")
    raw = json.loads((tmp_path / "m" / "config.json").read_text())
    raw["hidden_dim"] = 25
    (tmp_path / "m" / "config.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match="shape"):
        FeatureMapper.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not safetensors")
    raw["hidden_dim"] = 24
    (tmp_path / "m" / "config.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match="corrupt"):
        FeatureMapper.from_pretrained(tmp_path / "m")
    with pytest.raises(UserError, match="not found"):
        FeatureMapper.from_pretrained(tmp_path / "nope")


def test_training_refuses_wrong_tables(tables):
    nerf, views, captions = tables
    cfg = make_config("clip2nerf", tables)
    swapped = EmbeddingTable(views.vectors, views.ids, views.labels, "nf2vec:x")
    with pytest.raises(UserError, match="expected a vlm space"):
        train_mapper(cfg, nerf, swapped, nerf.ids, progress=False)
    with pytest.raises(UserError, match="ids not in embedding table"):
        train_mapper(cfg, nerf, views, ["missing"], progress=False)
    cfg.multimodal = True
    with pytest.raises(UserError, match="caption"):
        train_mapper(cfg, nerf, views, nerf.ids, progress=False)
    with pytest.raises(UserError, match="nerf2clip only"):
        MapperConfig("clip2nerf", "vlm:a", 4, "nf2vec:b", n_views=2)


def test_class_recall_excludes_own_object():
    gallery = np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32)
    labels = ["a", "a", "b"]
    # Query 0 equals its own object; excluded, its nearest is object 1 (same class).
    assert class_recall_at_1(gallery[[0]], np.array([0]), gallery, labels) == 1.0
    # Query 2 is the only "b": no other object can be right, so it does not count ...
    pred = gallery[[0, 2]]
    assert class_recall_at_1(pred, np.array([0, 2]), gallery, labels) == 1.0
    # ... and with one object per class nothing is answerable (NaN, not a misleading 0).
    assert np.isnan(class_recall_at_1(gallery[[0, 2]], np.array([0, 2]), gallery,
                                      ["a", "c", "b"]))


@pytest.mark.slow
def test_mapper_learns_link_on_clustered_data():
    nerf, views, _ = linked_tables(n_classes=6, per_class=12, n_views=6, vlm_dim=32,
                                   nf2vec_dim=64, seed=2)
    train, val = split_ids(nerf.ids, 0.25, seed=0)
    cfg = MapperConfig("clip2nerf", views.space, views.dim, nerf.space, nf2vec_dim=64,
                       train=TrainConfig.paper("clip2nerf", epochs=15, lr=1e-3))
    res = train_mapper(cfg, nerf, views, train, val, progress=False)
    # Chance is ~1/6 for a class-balanced gallery.
    assert res.history[-1]["val_recall@1"] > 0.6


@pytest.mark.gpu
def test_training_and_mapping_on_cuda(tables):
    nerf, views, _ = tables
    cfg = make_config("clip2nerf", tables, epochs=3, lr=3e-3, batch_size=8)
    res = train_mapper(cfg, nerf, views, nerf.ids[:18], nerf.ids[18:], device="cuda",
                       progress=False)
    assert next(res.model.parameters()).device.type == "cuda"
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    out = res.model.map(views.vectors[:2, 0])
    assert out.shape == (2, nerf.dim) and np.isfinite(out).all()


def test_checkpoints_are_timed_and_kept_on_interruption(tables, tmp_path, monkeypatch):
    import clip2nerf.mapping.train as mapping_train
    from clip2nerf.utils.train_loop import TrainLoop

    nerf, views, _ = tables
    saves = []
    real = TrainLoop.save
    monkeypatch.setattr(TrainLoop, "save", lambda loop, done: saves.append(done) or real(loop, done))
    monkeypatch.setattr(mapping_train, "CHECKPOINT_SECONDS", 1e9)
    cfg = make_config("nerf2clip", tables, epochs=5, lr=1e-3, batch_size=8)
    train_mapper(cfg, nerf, views, nerf.ids, out=tmp_path / "a", progress=False)
    assert saves == [5]  # not one per epoch: only the end

    saves.clear()

    def interrupt(record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_mapper(make_config("nerf2clip", tables, epochs=5, lr=1e-3, batch_size=8), nerf,
                     views, nerf.ids, out=tmp_path / "b", progress=False, on_epoch_end=interrupt)
    assert saves == [3]  # the finished epochs survive the interruption
    resumed = train_mapper(make_config("nerf2clip", tables, epochs=5, lr=1e-3, batch_size=8),
                           nerf, views, nerf.ids, out=tmp_path / "b", progress=False)
    assert resumed.resumed_from_epoch == 3


@pytest.mark.parametrize("direction", ["clip2nerf", "nerf2clip"])
def test_validation_in_chunks_is_the_whole_split(tables, direction):
    from clip2nerf.mapping.train import _evaluate

    nerf, views, _ = tables
    cfg = make_config(direction, tables)
    torch.manual_seed(0)
    model = FeatureMapper(cfg)
    pairs = build_pairs(cfg, nerf, views, nerf.ids, subset_views=False)
    loss, recall = _evaluate(model, pairs, torch.device("cpu"), chunk_rows=len(pairs))
    # the loss the whole split gives in one pass, against the per-pair targets
    with torch.no_grad():
        whole = float(cosine_loss(model(torch.from_numpy(pairs.inputs)),
                                  torch.from_numpy(pairs.targets)))
    # float32 means of ~100 terms in [0, 2]: the orders differ by a few ulps of ~1
    assert loss == pytest.approx(whole, rel=1e-5)
    for rows in (1, 7):
        chunked = _evaluate(model, pairs, torch.device("cpu"), chunk_rows=rows)
        assert chunked[0] == pytest.approx(loss, rel=1e-5) and chunked[1] == recall


def test_table_checks_in_chunks_name_the_first_zero_vector_and_count_them():
    from clip2nerf.mapping.data import _check_vectors

    rng = np.random.default_rng(0)
    views = EmbeddingTable(rng.normal(size=(6, 5, 4)).astype(np.float32),
                           [f"o{i}" for i in range(6)], [""] * 6, "vlm:t")
    views.vectors[3, 4] = 0.0
    views.vectors[5, 0] = -0.0
    for chunk in (1, 3, 7, 65536):  # chunks that split objects, and one whole pass
        with pytest.raises(UserError, match=r"2 vectors are all zero \(e.g. object 'o3'\)"):
            _check_vectors(views, chunk=chunk)
    views.vectors[3, 4] = 1.0
    views.vectors[5, 0] = 1.0
    views.vectors[4, 2, 1] = np.inf
    with pytest.raises(UserError, match="NaN or infinity"):
        _check_vectors(views, chunk=3)
