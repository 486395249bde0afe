import json

import pytest
from linked_tables import linked_tables

from clip2nerf.cli.main import main
from clip2nerf.mapping import FeatureMapper
from clip2nerf.utils.embeddings import EmbeddingTable


@pytest.fixture()
def files(tmp_path):
    nerf, views, captions = linked_tables(n_classes=3, per_class=5, n_views=4, vlm_dim=8,
                                          nf2vec_dim=16, seed=0)
    # nf2vec's embed writes per-object splits; the CLI uses them when no --split-ids is given.
    splits = ["train"] * 12 + ["val"] * 3
    nerf = EmbeddingTable(nerf.vectors, nerf.ids, nerf.labels, nerf.space, {"splits": splits})
    paths = {name: tmp_path / f"{name}.safetensors" for name in ("nerf", "views", "captions")}
    nerf.save(paths["nerf"])
    views.save(paths["views"])
    captions.save(paths["captions"])
    return paths, tmp_path


def run(*args):
    return main(["map", "train", *map(str, args)])


def test_map_train_writes_model_and_resumes(files, capsys):
    paths, tmp = files
    out = tmp / "c2n"
    args = ["--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--direction",
            "clip2nerf", "--out", out, "--epochs", 2, "--lr", 1e-3, "--device", "cpu"]
    assert run(*args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["paper_epochs"] == 150
    assert cfg["vlm_space"] == "vlm:synthetic" and cfg["nf2vec_space"] == "nf2vec:synthetic"
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["history"]) == 2 and log["n_train_pairs"] == 12 * 4
    assert "val_recall@1" in log["history"][-1]
    assert "12 train objects" in capsys.readouterr().err
    # Same command again: the finished checkpoint is reused, nothing retrained.
    assert run(*args) == 0
    assert "resumed from epoch 2" in capsys.readouterr().err
    # Other settings into the same folder are refused.
    assert run(*args[:-4], "--epochs", 3, "--device", "cpu") == 2
    assert "other settings" in capsys.readouterr().err


def test_map_train_multimodal_and_nerf2clip_views(files, tmp_path):
    paths, _ = files
    assert run("--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--caption-emb",
               paths["captions"], "--direction", "clip2nerf", "--out", tmp_path / "mm",
               "--epochs", 1) == 0
    assert FeatureMapper.from_pretrained(tmp_path / "mm").config.multimodal
    ids = tmp_path / "train.txt"
    ids.write_text("\n".join(f"obj{i:05d}" for i in range(10)) + "\n")
    assert run("--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--direction",
               "nerf2clip", "--views", 2, "--split-ids", ids, "--out", tmp_path / "n2c",
               "--epochs", 1) == 0
    cfg = FeatureMapper.from_pretrained(tmp_path / "n2c").config
    assert (cfg.n_views, cfg.train.lr, cfg.train.paper_epochs) == (2, 1e-3, 100)
    # A val.txt beside train.txt is the validation split.
    (tmp_path / "val.txt").write_text("obj00012\nobj00013\n")
    assert run("--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--direction",
               "nerf2clip", "--split-ids", ids, "--out", tmp_path / "n2c_val", "--epochs", 1) == 0
    log = json.loads((tmp_path / "n2c_val" / "train_log.json").read_text())
    assert log["n_train_pairs"] == 10 and log["n_val_pairs"] == 2
    (tmp_path / "val.txt").write_text("obj00001\n")
    assert run("--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--direction",
               "nerf2clip", "--split-ids", ids, "--out", tmp_path / "n2c_bad", "--epochs", 1) == 2


def test_map_train_user_errors(files, tmp_path, capsys):
    paths, _ = files
    base = ["--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--epochs", 1]
    assert run(*base, "--direction", "clip2nerf", "--views", 3, "--out", tmp_path / "a") == 2
    assert "nerf2clip only" in capsys.readouterr().err
    assert run(*base, "--direction", "nerf2clip", "--caption-emb", paths["captions"],
               "--out", tmp_path / "b") == 2
    assert "multimodal" in capsys.readouterr().err
    # NeRF and view files swapped.
    assert run("--nerf-emb", paths["views"], "--view-emb", paths["nerf"], "--direction",
               "clip2nerf", "--out", tmp_path / "c") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_map_train_extra_views_add_pairs_of_training_objects_only(files, tmp_path, capsys):
    import numpy as np

    paths, _ = files
    nerf = EmbeddingTable.load(paths["nerf"])
    views = EmbeddingTable.load(paths["views"])
    rng = np.random.default_rng(0)
    train_ids = nerf.ids[:12]
    extra = EmbeddingTable(rng.normal(size=(5, 3, 8)).astype(np.float32), train_ids[:5],
                           views.subset(train_ids[:5]).labels, views.space,
                           {"dataset": "tiny-photo-train"})
    extra.save(tmp_path / "extra.safetensors")
    base = ["--nerf-emb", paths["nerf"], "--view-emb", paths["views"], "--epochs", 1]
    assert run(*base, "--direction", "clip2nerf", "--extra-views", tmp_path / "extra.safetensors",
               "--out", tmp_path / "aug") == 0
    log = json.loads((tmp_path / "aug" / "train_log.json").read_text())
    assert log["n_train_pairs"] == 12 * 4 + 5 * 3
    cfg = FeatureMapper.from_pretrained(tmp_path / "aug").config
    assert cfg.extra_views == "tiny-photo-train: 15 images of 5 objects"
    # A val object among the extra views would leak it into training: refused.
    leak = EmbeddingTable(extra.vectors[:1], [nerf.ids[-1]], [""], views.space)
    leak.save(tmp_path / "leak.safetensors")
    capsys.readouterr()
    assert run(*base, "--direction", "clip2nerf", "--extra-views", tmp_path / "leak.safetensors",
               "--out", tmp_path / "leak") == 2
    assert "outside the training ids" in capsys.readouterr().err
    other = EmbeddingTable(extra.vectors, extra.ids, extra.labels, "vlm:other")
    other.save(tmp_path / "other.safetensors")
    assert run(*base, "--direction", "clip2nerf", "--extra-views", tmp_path / "other.safetensors",
               "--out", tmp_path / "other") == 2
    assert "same VLM" in capsys.readouterr().err
    assert run(*base, "--direction", "nerf2clip", "--extra-views", tmp_path / "extra.safetensors",
               "--out", tmp_path / "n2c") == 2
    assert "clip2nerf" in capsys.readouterr().err
