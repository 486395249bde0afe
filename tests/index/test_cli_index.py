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


def test_index_streams_a_shard_folder_into_ivf_sq8(tmp_path, capsys):
    rng = np.random.default_rng(1)
    vec = rng.normal(size=(400, 16)).astype(np.float32)
    for k in range(4):
        EmbeddingTable(vec[k * 100:(k + 1) * 100], [f"o{i}" for i in range(k * 100, k * 100 + 100)],
                       ["a"] * 100, "nf2vec:t").save(tmp_path / "emb" / f"part-{k}.safetensors")
    assert main(["index", "--embeddings", str(tmp_path / "emb"), "--out", str(tmp_path / "g"),
                 "--kind", "ivf-sq8", "--nlist", "4", "--nprobe", "4"]) == 0
    assert "400 vectors of 16 dims (nf2vec:t, ivf-sq8," in capsys.readouterr().out
    g = Gallery.load(tmp_path / "g")
    assert g.config.kind == "ivf-sq8" and g.ids == [f"o{i}" for i in range(400)]
    assert g.search(vec[[123]], k=1)[0][0, 0] == "o123"
    assert main(["index", "--embeddings", str(tmp_path / "emb"), "--out", str(tmp_path / "h")]) == 0
    assert "(nf2vec:t, flat," in capsys.readouterr().out  # auto: 400 rows stay exact
