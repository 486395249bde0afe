"""CLI of the applications: output lines, PNGs, and one-line errors for bad input."""

from __future__ import annotations

import pytest
from tiny_world import FakeVLM

from clip2nerf.cli.main import main


@pytest.fixture
def fake_vlm(monkeypatch):
    """`--vlm fake` loads the tiny world's fake VLM; any other spec a VLM of another name."""
    monkeypatch.setattr("clip2nerf.vlm.load_vlm",
                        lambda spec, device="auto", batch_size=None:
                        FakeVLM() if spec == "fake" else FakeVLM(name=spec))


@pytest.fixture(scope="module")
def gallery(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("gal") / "gallery"
    assert main(["index", "--embeddings", str(world["root"] / "nerf.safetensors"),
                 "--out", str(out)]) == 0
    return out


def test_classify_cli(world, fake_vlm, capsys):
    files = sorted(world["nerfs"].glob("*.safetensors"))[:3]
    rc = main(["classify", *map(str, files), "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--vlm", "fake", "--classes",
               "chair,lamp,car,table", "--device", "cpu"])
    out = capsys.readouterr()
    assert rc == 0
    lines = out.out.strip().splitlines()
    assert len(lines) == 3 and all("(stored: " in ln for ln in lines)
    assert "accuracy" in out.err


def test_classify_cli_refuses_a_mapper_of_another_vlm(world, fake_vlm, capsys):
    files = sorted(world["nerfs"].glob("*.safetensors"))[:1]
    rc = main(["classify", str(files[0]), "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--vlm", "some-other-vlm"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "some-other-vlm" in err


def test_search_cli_text_with_strip(world, fake_vlm, gallery, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "strip.png"
    rc = main(["search", "--text", "a 3d model of a lamp", "--gallery", str(gallery),
               "--clip2nerf", str(world["mappers"]["clip2nerf"]), "--vlm", "fake", "--k", "3",
               "--out", str(out), "--resolution", "16", "--device", "cpu"])
    text = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and [ln.split()[0] for ln in text] == ["1", "2", "3"]
    with Image.open(out) as im:
        assert im.width >= 4 * 16  # query tile + 3 results


def test_search_cli_images(world, fake_vlm, gallery, capsys):
    views = sorted((world["data"] / "objects").glob("*/views/*.png"))[:2]
    rc = main(["search", "--image", str(views[0]), "--image", str(views[1]), "--gallery",
               str(gallery), "--clip2nerf", str(world["mappers"]["clip2nerf"]), "--vlm", "fake"])
    assert rc == 0 and len(capsys.readouterr().out.strip().splitlines()) == 5


@pytest.mark.parametrize("args, message", [
    (["--text", "a car", "--image", "x.png"], "exactly one query"),
    ([], "exactly one query"),
    (["--text", "a car", "--gallery-missing"], "no such gallery"),
    (["--image", "missing.png"], "no such file"),
    (["--text", "a car", "--k", "0"], "--k 0"),
])
def test_search_cli_errors(world, fake_vlm, gallery, tmp_path, capsys, args, message):
    gal = str(tmp_path / "nope") if "--gallery-missing" in args else str(gallery)
    args = [a for a in args if a != "--gallery-missing"]
    rc = main(["search", *args, "--gallery", gal, "--clip2nerf",
               str(world["mappers"]["clip2nerf"]), "--vlm", "fake"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_search_cli_refuses_a_gallery_of_another_nf2vec(world, fake_vlm, tmp_path, capsys):
    out = tmp_path / "vgal"
    assert main(["index", "--embeddings", str(world["root"] / "views"), "--out", str(out)]) == 0
    rc = main(["search", "--text", "a car", "--gallery", str(out), "--clip2nerf",
               str(world["mappers"]["clip2nerf"]), "--vlm", "fake"])
    err = capsys.readouterr().err
    assert rc == 2 and "nf2vec model" in err


def test_generate_cli(world, fake_vlm, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "gen.png"
    rc = main(["generate", "--text", "a 3d model of a car", "--nf2vec", str(world["nf2vec"]),
               "--clip2nerf", str(world["mappers"]["clip2nerf"]), "--vlm", "fake", "--out",
               str(out), "--views", "2", "--resolution", "12", "--device", "cpu"])
    assert rc == 0 and "2 views" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.width >= 3 * 12


def test_generate_cli_errors(world, fake_vlm, tmp_path, capsys):
    base = ["generate", "--nf2vec", str(world["nf2vec"]), "--clip2nerf",
            str(world["mappers"]["clip2nerf"]), "--vlm", "fake"]
    assert main([*base, "--out", str(tmp_path / "g.png")]) == 2
    assert "exactly one condition" in capsys.readouterr().err
    assert main([*base, "--text", "a car", "--out", str(tmp_path / "g.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
    rc = main(["generate", "--text", "a car", "--nf2vec", str(world["nf2vec"]), "--clip2nerf",
               str(world["mappers"]["nerf2clip"]), "--vlm", "fake", "--out",
               str(tmp_path / "g.png")])
    assert rc == 2 and "clip2nerf mapper is needed" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--classes", " , "], "--classes"),
    (["--template", "no placeholder"], "--template"),
])
def test_classify_cli_bad_options(world, fake_vlm, capsys, extra, message):
    f = sorted(world["nerfs"].glob("*.safetensors"))[0]
    rc = main(["classify", str(f), "--nf2vec", str(world["nf2vec"]), "--nerf2clip",
               str(world["mappers"]["nerf2clip"]), "--vlm", "fake", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1


def test_classify_cli_missing_nerf_file(world, fake_vlm, tmp_path, capsys):
    rc = main(["classify", str(tmp_path / "nope.safetensors"), "--nf2vec", str(world["nf2vec"]),
               "--nerf2clip", str(world["mappers"]["nerf2clip"]), "--vlm", "fake"])
    assert rc == 2 and "NeRF file not found" in capsys.readouterr().err
