"""NeRF captioning by retrieval (`clip2nerf describe`) on the tiny world."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_world import FakeVLM

from clip2nerf.apps.describe import (
    Description,
    build_caption_bank,
    colour_words,
    dataset_caption_bank,
    describe_nerfs,
    describe_scores,
)
from clip2nerf.cli.main import main
from clip2nerf.data.layouts import open_dataset
from clip2nerf.errors import UserError
from clip2nerf.mapping import FeatureMapper
from clip2nerf.utils.embeddings import l2_normalize


@pytest.fixture
def fake_vlm(monkeypatch):
    monkeypatch.setattr("clip2nerf.vlm.load_vlm",
                        lambda spec, device="auto", batch_size=None:
                        FakeVLM() if spec == "fake" else FakeVLM(name=spec))


def test_describe_matches_the_embedding_table_path(world):
    vlm = world["vlm"]
    bank = dataset_caption_bank(vlm, world["data"], "train")
    ds = open_dataset(world["data"])
    train_caps = {ds.get(i).caption for i in ds.object_ids("train")}
    assert set(bank.texts) == train_caps and "train" in bank.source
    test_ids = ds.object_ids("test")
    files = [world["nerfs"] / f"{i}.safetensors" for i in test_ids]
    mapper = FeatureMapper.from_pretrained(world["mappers"]["nerf2clip"])
    out = describe_nerfs(files, world["model"], mapper, vlm, bank, k=3)
    # Second path: the stored NeRF embeddings, mapped and compared by hand.
    emb = world["nerf_table"].subset(test_ids).vectors
    sims = l2_normalize(mapper.map(emb)) @ l2_normalize(bank.vectors).T
    for row, d in enumerate(out):
        assert d.object_id == test_ids[row] and len(d.captions) == 3
        scores = [s for _, s, _ in d.captions]
        assert scores == sorted(scores, reverse=True)
        best = int(np.argmax(sims[row]))
        assert d.captions[0][0] == bank.texts[best]
        assert d.captions[0][1] == pytest.approx(float(sims[row, best]), abs=1e-4)
        assert d.captions[0][2] == bank.classes[best]


def test_describe_scores_by_hand():
    d1 = Description("a", "a", "chair", [("a red chair with blue legs", 0.9, "chair")])
    d2 = Description("b", "b", "lamp", [("a green table", 0.8, "table")])
    s = describe_scores([d1, d2], [["red", "white"], ["green"]],
                        ["a red chair with white legs", "a yellow lamp"])
    assert s == {"n": 2, "class": 0.5, "main_colour": 0.5, "colour_precision": 2 / 3}
    assert colour_words("A dark red sofa in light blue with red legs") == ["dark red",
                                                                         "light blue", "red"]


def test_describe_refuses_a_bank_of_another_vlm(world):
    bank = build_caption_bank(FakeVLM(name="other"), ["a red chair"], ["chair"], "x")
    mapper = FeatureMapper.from_pretrained(world["mappers"]["nerf2clip"])
    files = sorted(world["nerfs"].glob("*.safetensors"))[:1]
    with pytest.raises(UserError, match="caption bank"):
        describe_nerfs(files, world["model"], mapper, world["vlm"], bank)


def test_describe_cli(world, fake_vlm, capsys):
    ds = open_dataset(world["data"])
    files = [str(world["nerfs"] / f"{i}.safetensors") for i in ds.object_ids("test")]
    rc = main(["describe", *files, "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--data", str(world["data"]), "--vlm", "fake",
               "--k", "2", "--device", "cpu"])
    out = capsys.readouterr()
    assert rc == 0
    lines = out.out.strip().splitlines()
    assert len(lines) == 3 * len(files) and "(stored: " in lines[0]
    assert float(lines[1].split()[0]) >= float(lines[2].split()[0])
    assert "class right" in out.err and "VLM fake-test-vlm" in out.err
    rc = main(["describe", *files, "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--data", str(world["data"]), "--vlm",
               "another-vlm", "--device", "cpu"])
    assert rc == 2 and "another-vlm" in capsys.readouterr().err


def test_describe_batched_chunks_and_folder_equal_one_chunk(world):
    vlm = world["vlm"]
    bank = dataset_caption_bank(vlm, world["data"], "train")
    mapper = FeatureMapper.from_pretrained(world["mappers"]["nerf2clip"])
    files = sorted(world["nerfs"].glob("*.safetensors"))
    one = describe_nerfs(files, world["model"], mapper, vlm, bank, k=2)
    chunked = describe_nerfs([world["nerfs"]], world["model"], mapper, vlm, bank, k=2,
                             batch_size=3)  # a folder, read in chunks of 3 by threads
    assert [d.object_id for d in chunked] == [d.object_id for d in one]
    for a, b in zip(one, chunked, strict=True):
        assert [t for t, _, _ in a.captions] == [t for t, _, _ in b.captions]
        assert [s for _, s, _ in a.captions] == pytest.approx([s for _, s, _ in b.captions],
                                                              abs=1e-5)
