"""The demo's tour: the applications on a finished workdir, printed and drawn as PNG strips.

Zero-shot labels of the evaluated NeRFs from their weights alone, text and photo searches over
the workdir's gallery, and one generation from text. Reads the workdir's models and gallery
(``clip2nerf.workdir``), writes ``W/tour/`` (PNG strips and the caches that make a rerun
cheap: text embeddings, thumbnails, the generated views).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clip2nerf.classes import ZERO_SHOT_TEMPLATE
from clip2nerf.utils.io import atomic_write_json, file_digest
from clip2nerf.workdir import SEARCH_MAPPER, Workdir, nerf2clip_spec

TEXT_QUERIES = ("a 3d model of a car", "a jet plane", "a couch", "an office seat",
                "a sailing boat", "a computer monitor")
"""Tour queries: one prompt in the paper's form, then paraphrases that avoid class names."""

GENERATE_TEXT = "a 3d model of a chair"

TEXT_EMBEDDINGS = ".text_embeddings.safetensors"
THUMBS = ".thumbs"
GENERATE_KEY = ".generate_text.json"


@dataclass
class TourResult:
    """What the tour found (the CI test checks it)."""

    labels: list[dict[str, Any]]
    """Zero-shot labels of the evaluated NeRFs: object_id, truth, label, score."""
    text_hits: dict[str, list[dict[str, Any]]]
    image_query: dict[str, Any]
    pngs: list[str]

    @property
    def label_accuracy(self) -> float:
        return _label_accuracy(self.labels)


def _label_accuracy(rows: Sequence[dict[str, Any]]) -> float:
    return sum(r["label"] == r["truth"] for r in rows) / max(len(rows), 1)


def run_tour(workdir: Workdir | str | Path, eval_ids: Sequence[str], device: str = "cpu",
             echo: Callable[[str], None] = print, ensemble: int = 1) -> TourResult:
    """Zero-shot labels of ``eval_ids``, text and photo searches, one generation; prints and
    writes PNGs under ``W/tour``. ``device``: a resolved torch device name. ``ensemble > 1``:
    labels and searches average the workdir's model and members 1 ... ensemble-1
    (``Workdir.ensemble_member``); generation uses the workdir's own model."""
    import numpy as np

    from clip2nerf.apps import (
        ZeroShotClassifier,
        generate,
        load_mapper,
        render_nerf_view,
        resolve_source,
        search,
        strip_png,
        text_tile,
    )
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.index import Gallery
    from clip2nerf.mapping.model import WEIGHTS_NAME
    from clip2nerf.nerf.manifest import nerf_path
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.utils.threads import set_threads
    from clip2nerf.vlm import TextEmbeddingCache, load_vlm

    w = workdir if isinstance(workdir, Workdir) else Workdir(Path(workdir))
    set_threads(1)
    dev = str(device)
    ds = open_dataset(w.data)
    w.tour.mkdir(parents=True, exist_ok=True)
    # Prompts and queries are the same on every run: keep their embeddings, so a cached
    # rerun does not load the text tower at all.
    vlm = TextEmbeddingCache(load_vlm(str(w.vlm), device=dev), w.tour / TEXT_EMBEDDINGS)
    nf2vec = Nf2vec.from_pretrained(w.nf2vec, dev)
    n_views = ds.get(ds.object_ids()[0]).n_views
    nerf2clip = load_mapper(w.mapper(nerf2clip_spec("gt", n_views)), "nerf2clip", vlm, nf2vec)
    clip2nerf = load_mapper(w.mapper(SEARCH_MAPPER), "clip2nerf", vlm, nf2vec)
    gallery = Gallery.load(w.gallery)
    say = echo
    members = _ensemble_members(w, ensemble, vlm, dev, n_views)
    if members:
        members.insert(0, TourModel(nf2vec, nerf2clip, clip2nerf))
        say(f"\n(ensemble of {len(members)} nf2vec models: labels and searches average "
            "their outputs)")
    parts = _ensemble_parts(gallery, members, w) if members else []
    pngs: list[str] = []

    def thumb(hit) -> np.ndarray | None:
        src = resolve_source(hit, w.nerfs)
        return None if src is None else render_nerf_view(src, resolution=96, device=dev,
                                                         cache_dir=w.tour / THUMBS)

    # 1. zero-shot labels, no rendering
    files = [nerf_path(w.nerfs, i) for i in eval_ids]
    labels = ZeroShotClassifier(nf2vec, nerf2clip, vlm, ds.classes, device=dev,
                                members=[(m.nf2vec, m.nerf2clip) for m in members[1:]]
                                ).classify_files(files)
    rows = [{"object_id": c.object_id, "truth": c.stored_class, "label": c.label,
             "score": c.score} for c in labels]
    acc = _label_accuracy(rows)
    say(f"\nZero-shot labels of {len(rows)} held-out NeRFs from their weights alone "
        f"(nf2vec -> nerf2clip -> nearest {ZERO_SHOT_TEMPLATE.format('...')!r}): "
        f"{acc:.0%} correct")
    for r in rows[: min(8, len(rows))]:
        mark = "ok " if r["label"] == r["truth"] else "   "
        say(f"  {mark}{r['object_id']:<18} -> {r['label']:<11} (truth {r['truth']}, "
            f"score {r['score']:.2f})")

    # 2. text queries, including paraphrases without the class name
    text_hits: dict[str, list[dict[str, Any]]] = {}
    say(f"\nTop-5 NeRFs for text queries (gallery: {len(gallery)} held-out NeRFs):")
    for q in TEXT_QUERIES:
        hits = (_ensemble_search(gallery, parts, vlm.embed_texts([q]), 5) if members
                else search(gallery, clip2nerf, vlm, text=q, k=5))
        text_hits[q] = [{"object_id": h.object_id, "label": h.label, "score": h.score}
                        for h in hits]
        say(f"  {q!r:<24} " + ", ".join(f"{h.object_id}({h.score:.2f})" for h in hits))
        out = w.tour / f"text_{q.replace(' ', '_')}.png"
        strip_png([text_tile(q, 96)] + [thumb(h) for h in hits],
                  ["query"] + [f"{h.rank}. {h.label}" for h in hits], out)
        pngs.append(str(out))

    # 3. a held-out ground-truth view used as a photo
    test_id = ds.object_ids("test")[0]
    obj = ds.get(test_id)
    photo = obj.load_view(obj.n_views // 2)
    hits = (_ensemble_search(gallery, parts, vlm.embed_images([photo]), 5) if members
            else search(gallery, clip2nerf, vlm, images=[photo], k=5))
    say(f"\nTop-5 NeRFs for a photo of {test_id} (a held-out view):")
    say("  " + ", ".join(f"{h.object_id}({h.score:.2f})" for h in hits))
    out = w.tour / "photo_query.png"
    strip_png([photo] + [thumb(h) for h in hits],
              [f"photo: {obj.class_name}"] + [f"{h.rank}. {h.label}" for h in hits], out)
    pngs.append(str(out))
    image_query = {"object_id": test_id, "class": obj.class_name,
                   "hits": [{"object_id": h.object_id, "label": h.label, "score": h.score}
                            for h in hits]}

    # 4. generation from text: clip2nerf -> nf2vec decoder -> rendered views. Rendering
    # the decoder is the tour's slowest step: a rerun with the same models reuses it.
    out = w.tour / "generate_text.png"
    key = {"text": GENERATE_TEXT, "nf2vec": nf2vec.space, "vlm": vlm.space,
           "clip2nerf": file_digest(w.mapper(SEARCH_MAPPER) / WEIGHTS_NAME),
           "views": 6, "resolution": 96}
    key_file = w.tour / GENERATE_KEY
    if not (out.is_file() and key_file.is_file() and _read_key(key_file) == key):
        gen = generate(nf2vec, clip2nerf, vlm, text=GENERATE_TEXT, n_views=6,
                       resolution=96, device=dev)
        strip_png([text_tile(GENERATE_TEXT, 96)] + list(gen.views),
                  ["text"] + [f"view {i + 1}" for i in range(len(gen.views))], out)
        atomic_write_json(key_file, key)
    pngs.append(str(out))
    say(f"\nGenerated views of {GENERATE_TEXT!r} (clip2nerf -> nf2vec decoder): {out}")
    return TourResult(rows, text_hits, image_query, pngs)


@dataclass
class TourModel:
    """One ensemble member's models."""

    nf2vec: Any
    nerf2clip: Any
    clip2nerf: Any


def _ensemble_members(w: Workdir, ensemble: int, vlm, device: str, n_views: int
                      ) -> list[TourModel]:
    """Members 1 ... ensemble-1, loaded (empty for one model); a missing one is an error."""
    from clip2nerf.apps import load_mapper
    from clip2nerf.errors import UserError
    from clip2nerf.nf2vec import Nf2vec

    out = []
    for m in range(1, ensemble):
        mw = w.ensemble_member(m)
        if not (mw.nf2vec / "config.json").is_file():
            raise UserError(f"{mw.root}: ensemble member {m} is not trained; run `clip2nerf "
                            f"demo --workdir {w.root} --ensemble {ensemble}`")
        nf2vec = Nf2vec.from_pretrained(mw.nf2vec, device)
        out.append(TourModel(
            nf2vec, load_mapper(mw.mapper(nerf2clip_spec("gt", n_views)), "nerf2clip", vlm, nf2vec),
            load_mapper(mw.mapper(SEARCH_MAPPER), "clip2nerf", vlm, nf2vec)))
    return out


def _ensemble_parts(gallery, members: Sequence[TourModel], w: Workdir) -> list:
    """Each member's embeddings of the gallery's NeRFs (its own nf2vec space) + clip2nerf."""
    from clip2nerf.apps.ensemble import EnsembleMember
    from clip2nerf.utils.embeddings import load_embeddings

    ids = list(gallery.ids)
    return [EnsembleMember(load_embeddings(w.ensemble_member(m).nerf_embeddings,
                                           expect_space=model.nf2vec.space).subset(ids).vectors,
                           clip2nerf=model.clip2nerf)
            for m, model in enumerate(members)]


def _ensemble_search(gallery, parts: Sequence[Any], query: Any, k: int):
    """Top-``k`` gallery NeRFs by the mean of the members' cosine scores (one VLM query: the
    mean of its rows)."""
    import numpy as np

    from clip2nerf.apps import SearchHit
    from clip2nerf.apps.ensemble import ensemble_scores

    ids = list(gallery.ids)
    scores = ensemble_scores(parts, np.asarray(query, dtype=np.float32).mean(axis=0))[0]
    labels = gallery.labels_of(np.asarray([ids], dtype=object))[0]
    sources = gallery.extra.get("sources") or {}
    order = np.argsort(-scores, kind="stable")[:k]
    return [SearchHit(r + 1, ids[i], str(labels[i]), float(scores[i]), sources.get(ids[i]))
            for r, i in enumerate(order)]


def _read_key(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
