"""The batched classification path: same labels and scores as one NeRF at a time."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from clip2nerf.apps import ZeroShotClassifier, classify_nerfs, load_mapper
from clip2nerf.cli.main import main
from clip2nerf.errors import UserError

CLASSES = ["chair", "lamp", "car", "table"]


def _setup(world):
    mapper = load_mapper(world["mappers"]["nerf2clip"], "nerf2clip", world["vlm"], world["model"])
    return mapper, sorted(world["nerfs"].glob("*.safetensors"))


@pytest.mark.parametrize("batch_size, read_workers", [(1, 1), (2, 3), (64, 4)])
def test_batched_equals_one_by_one(world, batch_size, read_workers):
    mapper, files = _setup(world)
    one = [classify_nerfs([f], world["model"], mapper, world["vlm"], CLASSES)[0] for f in files]
    clf = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES,
                             batch_size=batch_size, read_workers=read_workers)
    many = clf.classify_files(files)
    assert [r.path for r in many] == [r.path for r in one]
    assert [r.object_id for r in many] == [r.object_id for r in one]
    assert [r.stored_class for r in many] == [r.stored_class for r in one]
    assert [r.label for r in many] == [r.label for r in one]
    np.testing.assert_allclose([r.score for r in many], [r.score for r in one], atol=1e-5)


def test_batched_scores_match_the_stored_embeddings(world):
    """Independent reference: embeddings from embed_nerfs (full files, grids read)."""
    mapper, files = _setup(world)
    res = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES,
                             batch_size=3).classify_files(files)
    emb = world["nerf_table"].subset([r.object_id for r in res]).vectors
    prompts = world["vlm"].embed_texts([f"a 3d model of a {c}" for c in CLASSES])
    sims = mapper.map(emb) @ prompts.T
    assert [r.label for r in res] == [CLASSES[j] for j in sims.argmax(axis=1)]
    np.testing.assert_allclose([r.score for r in res], sims.max(axis=1), atol=1e-5)


def test_a_folder_is_read_as_its_nerf_files(world, tmp_path):
    mapper, files = _setup(world)
    folder = tmp_path / "some"
    folder.mkdir()
    for f in files[:3]:
        shutil.copy(f, folder / f.name)
    clf = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES, batch_size=2)
    from_folder = clf.classify_files([folder, files[4]])
    assert [r.path for r in from_folder] == [str(folder / f.name) for f in files[:3]] + [
        str(files[4])]
    assert [r.label for r in from_folder] == [r.label for r in
                                              clf.classify_files(files[:3] + [files[4]])]


def test_a_corrupt_file_in_a_batch_is_named(world, tmp_path):
    mapper, files = _setup(world)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    clf = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES, batch_size=4)
    with pytest.raises(UserError, match="bad.safetensors"):
        clf.classify_files([*files[:3], bad])
    with pytest.raises(UserError, match="not found"):
        clf.classify_files([tmp_path / "missing.safetensors"])


def test_classify_cli_on_a_folder(world, monkeypatch, capsys, tmp_path):
    from tiny_world import FakeVLM

    monkeypatch.setattr("clip2nerf.vlm.load_vlm",
                        lambda spec, device="auto", batch_size=None: FakeVLM())
    _, files = _setup(world)
    rc = main(["classify", str(world["nerfs"]), "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--vlm", "fake", "--classes",
               ",".join(CLASSES), "--device", "cpu", "--batch-size", "2", "--threads", "1"])
    out = capsys.readouterr()
    assert rc == 0
    lines = out.out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == [str(f) for f in files]
    assert f"over {len(files)} NeRFs" in out.err
    rc = main(["classify", str(tmp_path), "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--vlm", "fake"])
    assert rc == 2 and "no *.safetensors" in capsys.readouterr().err


def _second_mapper(world):
    """Another nerf2clip for the same nf2vec model: the first's weights, perturbed."""
    import torch

    other = load_mapper(world["mappers"]["nerf2clip"], "nerf2clip", world["vlm"], world["model"])
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.5 * p.std() * torch.randn(p.shape, generator=g))
    return other


def test_an_ensemble_labels_by_the_mean_of_its_members_outputs(world):
    from clip2nerf.utils.embeddings import l2_normalize

    mapper, files = _setup(world)
    other = _second_mapper(world)
    clf = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES, batch_size=3,
                             members=[(world["model"], other)])
    res = clf.classify_files(files)
    emb = world["nerf_table"].subset([r.object_id for r in res]).vectors
    prompts = world["vlm"].embed_texts([f"a 3d model of a {c}" for c in CLASSES])
    mean = l2_normalize((mapper.map(emb) + other.map(emb)) / 2)
    sims = mean @ prompts.T
    assert [r.label for r in res] == [CLASSES[j] for j in sims.argmax(axis=1)]
    np.testing.assert_allclose([r.score for r in res], sims.max(axis=1), atol=1e-5)
    # a member repeated is the member itself
    twice = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES,
                               members=[(world["model"], mapper)]).classify_files(files)
    once = ZeroShotClassifier(world["model"], mapper, world["vlm"], CLASSES).classify_files(files)
    assert [r.label for r in twice] == [r.label for r in once]
    np.testing.assert_allclose([r.score for r in twice], [r.score for r in once], atol=1e-5)


def test_classify_cli_takes_nf2vec_and_nerf2clip_in_pairs(world, monkeypatch, capsys):
    from tiny_world import FakeVLM

    monkeypatch.setattr("clip2nerf.vlm.load_vlm",
                        lambda spec, device="auto", batch_size=None: FakeVLM())
    _, files = _setup(world)
    pair = ["--nf2vec", str(world["nf2vec"]), "--nerf2clip", str(world["mappers"]["nerf2clip"])]
    common = ["--vlm", "fake", "--classes", ",".join(CLASSES), "--device", "cpu"]
    assert main(["classify", str(world["nerfs"]), *pair, *common]) == 0
    one = capsys.readouterr().out
    assert main(["classify", str(world["nerfs"]), *pair, *pair, *common]) == 0
    two = capsys.readouterr().out
    assert [ln.split()[:2] for ln in two.splitlines()] == [ln.split()[:2]
                                                           for ln in one.splitlines()]
    rc = main(["classify", str(world["nerfs"]), *pair, "--nf2vec", str(world["nf2vec"]),
               *common])
    assert rc == 2 and "2 --nf2vec but 1 --nerf2clip" in capsys.readouterr().err
