import dataclasses

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from clip2nerf.errors import UserError
from clip2nerf.index import Gallery, GalleryConfig, recall_at_k
from clip2nerf.utils.embeddings import EmbeddingTable


def random_table(n=60, d=12, n_classes=5, seed=0, space="nf2vec:test"):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d))
    cls = rng.integers(0, n_classes, n)
    vec = (centres[cls] + 0.8 * rng.normal(size=(n, d))).astype(np.float32)
    return EmbeddingTable(vec, [f"o{i}" for i in range(n)], [f"c{c}" for c in cls], space)


def brute_force(gallery_vecs, queries, k, exclude_rows=None):
    g = gallery_vecs / np.linalg.norm(gallery_vecs, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ g.T
    if exclude_rows is not None:
        sims[np.arange(len(q)), exclude_rows] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_search_matches_brute_force_and_sklearn():
    table = random_table()
    gallery = Gallery.from_table(table)
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(25, 12)).astype(np.float32) * 7.0  # norm must not matter
    ids, scores = gallery.search(queries, k=10)
    rows, ref_scores = brute_force(table.vectors, queries, 10)
    # faiss vs numpy: float32 dot products of 12 terms, <= 12 x 6e-8 apart. The exact id order
    # holds because the closest two scores of a query here are 5.8e-5 apart.
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    np.testing.assert_array_equal(ids, np.asarray(table.ids, dtype=object)[rows])
    nn = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(table.vectors)
    dist, sk_rows = nn.kneighbors(queries)
    np.testing.assert_allclose(scores, 1 - dist, atol=1e-5)
    np.testing.assert_array_equal(ids, np.asarray(table.ids, dtype=object)[sk_rows])


def test_recall_matches_sklearn_protocol_with_query_excluded():
    table = random_table(n=80, seed=3)
    gallery = Gallery.from_table(table)
    # Queries: noisy copies of gallery objects; each excludes its own object.
    rng = np.random.default_rng(4)
    rows = rng.choice(len(table), 30, replace=False)
    queries = table.vectors[rows] + 0.3 * rng.normal(size=(30, 12)).astype(np.float32)
    own = [table.ids[r] for r in rows]
    ids, _ = gallery.search(queries, k=10, exclude_ids=own)
    assert not any(own[i] in ids[i] for i in range(30))
    ours = recall_at_k([table.labels[r] for r in rows], gallery.labels_of(ids))
    assert gallery.recall(queries, own, [table.labels[r] for r in rows]) == ours
    # sklearn reference: ask for 11 neighbours, drop the query's own object. (No near ties: the
    # closest two of a query's top-12 scores are 9.4e-6 apart, 10x float32 rounding.)
    nn = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(table.vectors)
    _, sk = nn.kneighbors(queries)
    sk = np.array([[c for c in row if c != rows[i]][:10] for i, row in enumerate(sk)])
    labels = np.asarray(table.labels, dtype=object)
    qlab = labels[rows]
    for k in (1, 5, 10):
        ref = np.mean([(labels[sk[i, :k]] == qlab[i]).any() for i in range(30)])
        assert ours[k] == pytest.approx(ref)


def test_own_item_never_returned_even_when_identical():
    table = random_table(n=20)
    gallery = Gallery.from_table(table)
    ids, scores = gallery.search(table.vectors, k=3, exclude_ids=table.ids)
    assert all(table.ids[i] not in ids[i] for i in range(20))
    plain, plain_scores = gallery.search(table.vectors, k=1)
    assert list(plain[:, 0]) == table.ids  # without exclusion, the item finds itself
    np.testing.assert_allclose(plain_scores[:, 0], 1.0, atol=1e-5)


def test_k_larger_than_gallery():
    table = random_table(n=6)
    gallery = Gallery.from_table(table)
    ids, scores = gallery.search(table.vectors[:2], k=50)
    assert ids.shape == scores.shape == (2, 6)
    assert sorted(ids[0]) == sorted(table.ids)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    ids, _ = gallery.search(table.vectors[:2], k=50, exclude_ids=table.ids[:2])
    assert ids.shape == (2, 5) and "o0" not in ids[0] and "o1" not in ids[1]
    one = Gallery.from_table(random_table(n=1))
    with pytest.raises(UserError, match="no rows left"):
        one.search(np.ones((1, 12), np.float32), k=1, exclude_ids=["o0"])


def test_all_views_gallery_excludes_every_row_of_an_object():
    rng = np.random.default_rng(0)
    views = EmbeddingTable(rng.normal(size=(5, 4, 8)).astype(np.float32),
                           [f"o{i}" for i in range(5)], list("aabbc"), "vlm:test")
    all_g = Gallery.from_table(views, views="all")
    assert len(all_g) == 20 and all_g.ids[:4] == ["o0"] * 4
    ids, _ = all_g.search(views.vectors[:, 0], k=30, exclude_ids=views.ids)
    assert ids.shape == (5, 16)
    assert all(views.ids[i] not in ids[i] for i in range(5))
    mean_g = Gallery.from_table(views, views="mean")
    assert len(mean_g) == 5
    ids, scores = mean_g.search(views.vectors.mean(axis=1), k=1)
    assert list(ids[:, 0]) == views.ids


def test_space_and_dim_mismatch_refused():
    gallery = Gallery.from_table(random_table())
    with pytest.raises(UserError, match="'vlm:x' embeddings but the gallery holds"):
        gallery.search(np.ones((1, 12), np.float32), k=1, space="vlm:x")
    with pytest.raises(UserError, match="12"):
        gallery.search(np.ones((1, 5), np.float32), k=1)
    with pytest.raises(UserError, match="NaN"):
        gallery.search(np.full((1, 12), np.nan, np.float32), k=1)
    with pytest.raises(UserError, match="one entry per query"):
        gallery.search(np.ones((2, 12), np.float32), k=1, exclude_ids=["o1"])


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(tmp_path, mmap):
    table = random_table()
    gallery = Gallery.from_table(table)
    gallery.save(tmp_path / "g")
    back = Gallery.load(tmp_path / "g", expect_space="nf2vec:test", mmap=mmap)
    assert (back.ids, back.labels, back.space, back.dim) == (gallery.ids, gallery.labels,
                                                             gallery.space, 12)
    q = table.vectors[:7]
    for a, b in zip(gallery.search(q, 5, exclude_ids=table.ids[:7]),
                    back.search(q, 5, exclude_ids=table.ids[:7]), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(UserError, match="exists"):
        gallery.save(tmp_path / "g")
    gallery.save(tmp_path / "g", overwrite=True)
    with pytest.raises(UserError, match="'vlm:x' is in use|holds 'nf2vec:test'"):
        Gallery.load(tmp_path / "g", expect_space="vlm:x")


def test_corrupt_gallery_refused(tmp_path):
    Gallery.from_table(random_table()).save(tmp_path / "g")
    (tmp_path / "g" / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt faiss index"):
        Gallery.load(tmp_path / "g")
    Gallery.from_table(random_table(n=5)).save(tmp_path / "h")
    Gallery.from_table(random_table(n=6)).save(tmp_path / "i")
    (tmp_path / "h" / "index.faiss").write_bytes((tmp_path / "i" / "index.faiss").read_bytes())
    with pytest.raises(UserError, match="6 vectors but metadata lists 5"):
        Gallery.load(tmp_path / "h")
    with pytest.raises(UserError, match="not found"):
        Gallery.load(tmp_path / "nope")


def test_ivf_gallery_close_to_exact(tmp_path):
    table = random_table(n=2000, d=16, n_classes=10, seed=5)
    exact = Gallery.from_table(table)
    ivf = Gallery.from_table(table, config=GalleryConfig("ivf", nlist=16, nprobe=16))
    q = table.vectors[:50]
    ids_e, _ = exact.search(q, 5, exclude_ids=table.ids[:50])
    ids_i, _ = ivf.search(q, 5, exclude_ids=table.ids[:50])
    np.testing.assert_array_equal(ids_e, ids_i)  # nprobe = nlist scans everything
    ivf.save(tmp_path / "g")
    back = Gallery.load(tmp_path / "g")
    assert back.config.kind == "ivf" and back.index.nprobe == 16
    np.testing.assert_array_equal(back.search(q, 5, exclude_ids=table.ids[:50])[0], ids_i)


def test_ivf_sq8_close_to_exact_and_memory_mapped(tmp_path):
    import faiss

    table = random_table(n=3000, d=32, n_classes=10, seed=6)
    exact = Gallery.from_table(table)
    sq8 = Gallery.from_table(table, config=GalleryConfig("ivf-sq8", nlist=16, nprobe=16))
    assert isinstance(sq8.index, faiss.IndexIVFScalarQuantizer)
    q = table.vectors[:100]
    ids_e, s_e = exact.search(q, 10, exclude_ids=table.ids[:100])
    ids_s, s_s = sq8.search(q, 10, exclude_ids=table.ids[:100])
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids_e, ids_s, strict=True)])
    assert overlap >= 0.9  # 8-bit codes: near-ties may swap, most of the top 10 agrees
    np.testing.assert_allclose(s_s, s_e, atol=0.02)
    sq8.save(tmp_path / "g")
    # 1 byte per dimension + ids, plus the centroids: well under the float32 matrix.
    assert (tmp_path / "g" / "index.faiss").stat().st_size < table.vectors.nbytes / 2
    back = Gallery.load(tmp_path / "g")  # IVF kinds are memory-mapped by default
    lists = faiss.extract_index_ivf(back.index).invlists
    assert "OnDisk" in type(faiss.downcast_InvertedLists(lists)).__name__
    assert back.config.kind == "ivf-sq8" and back.index.nprobe == 16
    np.testing.assert_array_equal(back.search(q, 10, exclude_ids=table.ids[:100])[0], ids_s)
    read = Gallery.load(tmp_path / "g", mmap=False)
    assert "OnDisk" not in type(
        faiss.downcast_InvertedLists(faiss.extract_index_ivf(read.index).invlists)).__name__
    back.set_nprobe(1)
    assert back.index.nprobe == 1
    with pytest.raises(UserError, match="IVF"):
        exact.set_nprobe(4)


@pytest.mark.parametrize("kind", ["flat", "ivf", "ivf-sq8", "ivf-sq6"])
def test_streamed_build_equals_in_memory_build(kind):
    import faiss

    table = random_table(n=900, d=16, n_classes=6, seed=7)
    cfg = GalleryConfig(kind, nlist=8, nprobe=4)
    whole = Gallery.from_table(table, config=cfg)
    calls = []

    def chunks():
        calls.append(1)
        for lo in range(0, 900, 128):  # chunks that do not align with anything
            yield (table.vectors[lo:lo + 128], table.ids[lo:lo + 128],
                   table.labels[lo:lo + 128])

    streamed = Gallery.from_chunks(chunks, 900, 16, table.space, cfg)
    assert len(calls) == (1 if kind == "flat" else 2)  # IVF: one pass to sample, one to add
    assert streamed.ids == whole.ids and streamed.labels == whole.labels
    assert faiss.serialize_index(streamed.index).tobytes() == \
        faiss.serialize_index(whole.index).tobytes()
    with pytest.raises(UserError, match="not the 1000 announced|fewer than the 1000"):
        Gallery.from_chunks(chunks, 1000, 16, table.space, cfg)


def test_from_embeddings_streams_a_shard_folder(tmp_path, monkeypatch):
    import faiss

    from clip2nerf.index import gallery as gallery_mod

    table = random_table(n=300, d=16, seed=8)
    table.extra["sources"] = [f"nerfs/{i}.safetensors" for i in table.ids]
    for k, lo in enumerate(range(0, 300, 100)):
        table.subset(table.ids[lo:lo + 100]).save(tmp_path / "emb" / f"part-{k}.safetensors")
    loaded = []
    real_load = EmbeddingTable.load

    def spy(path, expect_space=None):
        loaded.append(path)
        return real_load(path, expect_space)

    monkeypatch.setattr(EmbeddingTable, "load", spy)
    keep = table.ids[::3]
    g = Gallery.from_embeddings(tmp_path / "emb", only_ids=keep,
                                config=GalleryConfig("ivf-sq8", nlist=4, nprobe=4))
    assert len(loaded) == 6  # each shard read on its own, once per pass
    assert g.ids == keep and g.config.kind == "ivf-sq8"
    assert g.extra["sources"]["o3"] == "nerfs/o3.safetensors"
    ref = Gallery.from_table(table.subset(keep), config=GalleryConfig("ivf-sq8", nlist=4,
                                                                      nprobe=4))
    np.testing.assert_array_equal(g.search(table.vectors[:5], 5)[0],
                                  ref.search(table.vectors[:5], 5)[0])
    with pytest.raises(UserError, match="zz"):
        Gallery.from_embeddings(tmp_path / "emb", only_ids=["o1", "zz"])
    with pytest.raises(UserError, match="'vlm:x' is in use"):
        Gallery.from_embeddings(tmp_path / "emb", expect_space="vlm:x")
    # auto: exact up to AUTO_FLAT_MAX rows, compressed IVF above it.
    assert Gallery.from_embeddings(tmp_path / "emb", config=GalleryConfig("auto")).config.kind \
        == "flat"

    def auto_limit(kind, rows):
        spec = dataclasses.replace(gallery_mod.GALLERY_KINDS[kind], auto_max_rows=rows)
        monkeypatch.setitem(gallery_mod.GALLERY_KINDS, kind, spec)

    auto_limit("flat", 100)
    assert Gallery.from_embeddings(tmp_path / "emb", config=GalleryConfig("auto")).config.kind \
        == "ivf-sq8"
    auto_limit("ivf-sq8", 200)  # past it: 6-bit codes
    sq6 = Gallery.from_embeddings(tmp_path / "emb", config=GalleryConfig("auto"))
    assert sq6.config.kind == "ivf-sq6"
    assert sq6.index.sq.qtype == faiss.ScalarQuantizer.QT_6bit


def test_auto_kind_by_size():
    from clip2nerf.index.gallery import auto_kind

    assert [auto_kind(n) for n in (1, 10_000, 10_001, 500_000, 500_001, 10**6)] == \
        ["flat", "flat", "ivf-sq8", "ivf-sq8", "ivf-sq6", "ivf-sq6"]


def test_kind_table_is_the_one_list_of_kinds():
    import typing

    from clip2nerf.cli.index import command
    from clip2nerf.index.gallery import GALLERY_KINDS, KINDS, IndexKind

    assert set(typing.get_args(IndexKind)) == set(KINDS) == {"auto", *GALLERY_KINDS}
    kind_option = next(p for p in command.params if p.name == "kind")
    assert tuple(kind_option.type.choices) == KINDS
    assert [k.name for k in GALLERY_KINDS.values() if k.ivf] == ["ivf", "ivf-sq8", "ivf-sq6"]
    assert all(k.mmap == k.ivf for k in GALLERY_KINDS.values())


def test_load_refuses_a_kind_that_does_not_match_the_codes(tmp_path):
    import json

    table = random_table(n=600, d=16, seed=9)
    Gallery.from_table(table, config=GalleryConfig("ivf-sq6", nlist=4)).save(tmp_path / "g")
    assert Gallery.load(tmp_path / "g").config.kind == "ivf-sq6"
    meta = json.loads((tmp_path / "g" / "gallery.json").read_text())
    meta["config"]["kind"] = "ivf-sq8"
    (tmp_path / "g" / "gallery.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="holds other codes"):
        Gallery.load(tmp_path / "g")
