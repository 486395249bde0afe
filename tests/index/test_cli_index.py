import numpy as np

from clip2nerf.cli.main import main
from clip2nerf.index import Gallery
from clip2nerf.utils.embeddings import EmbeddingTable


def test_index_builds_gallery_from_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    table = EmbeddingTable(rng.normal(size=(10, 16)).astype(np.float32),
                           [f"o{i}" for i in range(10)], ["a", "b"] * 5, "nf2vec:t")
    table.save(tmp_path / "emb.safetensors")
    (tmp_path / "test.txt").write_text("o2\no5\no7\n")
    args = ["index", "--embeddings", str(tmp_path / "emb.safetensors"), "--out",
            str(tmp_path / "g"), "--split-ids", str(tmp_path / "test.txt")]
    assert main(args) == 0
    assert "3 vectors of 16 dims" in capsys.readouterr().out
    g = Gallery.load(tmp_path / "g", expect_space="nf2vec:t")
    assert g.ids == ["o2", "o5", "o7"] and g.labels == ["a", "b", "b"]
    ids, _ = g.search(table.vectors[[5]], k=1)
    assert ids[0, 0] == "o5"
    assert main(args) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    (tmp_path / "bad.txt").write_text("o2\nzz\n")
    assert main(args[:-1] + [str(tmp_path / "bad.txt"), "--overwrite"]) == 2
    assert "zz" in capsys.readouterr().err


def test_index_per_view_baseline_gallery(tmp_path):
    rng = np.random.default_rng(0)
    EmbeddingTable(rng.normal(size=(4, 3, 8)).astype(np.float32), list("wxyz"), list("aabb"),
                   "vlm:t").save(tmp_path / "v.safetensors")
    assert main(["index", "--embeddings", str(tmp_path / "v.safetensors"), "--out",
                 str(tmp_path / "all"), "--views", "all"]) == 0
    assert len(Gallery.load(tmp_path / "all")) == 12
