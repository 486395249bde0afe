"""The applications end to end on the tiny world: classify, search, generate, strips."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_world import FakeVLM

from clip2nerf.apps import (
    classify_nerfs,
    generate,
    load_mapper,
    query_embedding,
    render_nerf_view,
    resolve_source,
    search,
)
from clip2nerf.errors import UserError
from clip2nerf.index import Gallery


def _nerf_files(world):
    return sorted(world["nerfs"].glob("*.safetensors"))


def test_classify_labels_every_file_with_a_prompt_class(world):
    mapper = load_mapper(world["mappers"]["nerf2clip"], "nerf2clip", world["vlm"], world["model"])
    files = _nerf_files(world)[:5]
    res = classify_nerfs(files, world["model"], mapper, world["vlm"],
                         classes=["chair", "lamp", "car", "table"])
    assert [r.path for r in res] == [str(f) for f in files]
    assert {r.label for r in res} <= {"chair", "lamp", "car", "table"}
    # The score is the cosine to the chosen prompt: recompute it by hand for the first file.
    prompts = world["vlm"].embed_texts([f"a 3d model of a {c}" for c in
                                        ["chair", "lamp", "car", "table"]])
    emb = world["nerf_table"].subset([res[0].object_id]).vectors
    sims = mapper.map(emb) @ prompts.T
    assert res[0].label == ["chair", "lamp", "car", "table"][int(sims.argmax())]
    assert res[0].score == pytest.approx(float(sims.max()), abs=1e-5)
    assert res[0].stored_class == res[0].object_id.split("_")[0]


def test_mapper_for_another_vlm_or_nf2vec_is_refused(world):
    with pytest.raises(UserError, match="VLM"):
        load_mapper(world["mappers"]["nerf2clip"], "nerf2clip", FakeVLM("other-vlm"),
                    world["model"])
    with pytest.raises(UserError, match="size 8"):
        load_mapper(world["mappers"]["clip2nerf"], "clip2nerf", FakeVLM(dim=8))
    with pytest.raises(UserError, match="nf2vec model"):
        load_mapper(world["mappers"]["clip2nerf"], "clip2nerf", world["vlm"],
                    nf2vec_space="nf2vec:other@00000000")
    with pytest.raises(UserError, match="nerf2clip mapper"):
        load_mapper(world["mappers"]["clip2nerf"], "nerf2clip", world["vlm"], world["model"])
    mapper = load_mapper(world["mappers"]["nerf2clip"], "nerf2clip", world["vlm"], world["model"])
    with pytest.raises(UserError, match="VLM"):
        classify_nerfs(_nerf_files(world)[:1], world["model"], mapper, FakeVLM("other-vlm"))


def test_search_by_text_and_images(world):
    vlm, mapper = world["vlm"], load_mapper(world["mappers"]["clip2nerf"], "clip2nerf",
                                            world["vlm"], world["model"])
    gallery = Gallery.from_table(world["nerf_table"])
    hits = search(gallery, mapper, vlm, text="a 3d model of a red car", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # Brute force: cosine of the mapped text against every NeRF embedding.
    q = mapper.map(vlm.embed_texts(["a 3d model of a red car"]))[0]
    table = world["nerf_table"]
    order = np.argsort(-(table.vectors @ q))[:5]
    assert [h.object_id for h in hits] == [table.ids[i] for i in order]
    assert all(resolve_source(h) is not None for h in hits)  # the gallery records the files

    from clip2nerf.data.layouts import open_dataset

    rec = open_dataset(world["data"]).get(table.ids[0])
    views = [rec.load_view(i) for i in range(3)]
    hits = search(gallery, mapper, vlm, images=views, k=3, exclude_ids=[table.ids[0]])
    assert table.ids[0] not in [h.object_id for h in hits]
    expected = mapper.map_multiview(vlm.embed_images(views)[None])[0]
    assert np.allclose(query_embedding(mapper, vlm, images=views), expected, atol=1e-6)


def test_search_refuses_a_gallery_of_another_space_and_bad_queries(world):
    vlm, mapper = world["vlm"], load_mapper(world["mappers"]["clip2nerf"], "clip2nerf",
                                            world["vlm"], world["model"])
    views = world["views"]
    vlm_gallery = Gallery.from_table(views, "mean")
    with pytest.raises(UserError, match="gallery holds"):
        search(vlm_gallery, mapper, vlm, text="a car")
    gallery = Gallery.from_table(world["nerf_table"])
    with pytest.raises(UserError, match="exactly one query"):
        search(gallery, mapper, vlm, text="a car", images=[np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(UserError, match="exactly one query"):
        search(gallery, mapper, vlm)


def test_generate_renders_views_of_the_decoded_embedding(world):
    mapper = load_mapper(world["mappers"]["clip2nerf"], "clip2nerf", world["vlm"], world["model"])
    out = generate(world["model"], mapper, world["vlm"], text="a 3d model of a chair",
                   n_views=2, resolution=12, n_samples=16)
    assert out.views.shape == (2, 12, 12, 4) and out.views.dtype == np.uint8
    assert np.linalg.norm(out.embedding) == pytest.approx(1.0, abs=1e-5)
    other = FakeVLM("another-vlm")
    with pytest.raises(UserError, match="VLM"):
        generate(world["model"], mapper, other, text="a chair", n_views=1, resolution=8)


def test_render_nerf_view_is_an_rgba_thumbnail(world):
    img = render_nerf_view(_nerf_files(world)[0], resolution=12, n_samples=16)
    assert img.shape == (12, 12, 4) and img.dtype == np.uint8
    assert img[..., 3].max() > 0  # the random field is visible somewhere


def test_render_nerf_view_cache_renders_once(world, tmp_path, monkeypatch):
    import shutil

    import clip2nerf.nerf as nerf_pkg

    src = tmp_path / "a.safetensors"
    shutil.copy(_nerf_files(world)[0], src)
    cache = tmp_path / "thumbs"
    first = render_nerf_view(src, resolution=12, n_samples=16, cache_dir=cache)
    assert len(list(cache.glob("*.png"))) == 1
    calls = []
    real = nerf_pkg.render_image
    monkeypatch.setattr(nerf_pkg, "render_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    np.testing.assert_array_equal(render_nerf_view(src, resolution=12, n_samples=16,
                                                   cache_dir=cache), first)
    assert calls == []  # served from the cache
    # Another NeRF in the same file, or a damaged cache entry, is rendered again.
    shutil.copy(_nerf_files(world)[1], src)
    render_nerf_view(src, resolution=12, n_samples=16, cache_dir=cache)
    assert len(calls) == 1 and len(list(cache.glob("*.png"))) == 2
    for png in cache.glob("*.png"):
        png.write_bytes(b"not a png")
    again = render_nerf_view(src, resolution=12, n_samples=16, cache_dir=cache)
    assert len(calls) == 2 and again.shape == (12, 12, 4)
