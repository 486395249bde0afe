"""The demo's tour: the applications on a finished workdir, printed and drawn as PNG strips.

Zero-shot labels of the evaluated NeRFs from their weights alone, text and photo searches over
the workdir's gallery, and one generation from text. Reads the workdir's models and gallery
(``clip2nerf.workdir``), writes ``W/tour/`` (PNG strips and the caches that make a rerun
cheap: text embeddings, thumbnails, the generated views).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.threads import set_threads

    w = workdir if isinstance(workdir, Workdir) else Workdir(Path(workdir))
    set_threads(1)
    ds = open_dataset(w.data)
    w.tour.mkdir(parents=True, exist_ok=True)
    tour = _load_tour(w, str(device), ds.get(ds.object_ids()[0]).n_views, ensemble, echo)
    rows = tour.zero_shot_labels(eval_ids, ds.classes)
    text_hits = tour.text_searches()
    image_query = tour.photo_search(ds)
    tour.generation()
    return TourResult(rows, text_hits, image_query, tour.pngs)


def _load_tour(w: Workdir, device: str, n_views: int, ensemble: int,
               say: Callable[[str], None]) -> _Tour:
    """The workdir's models, gallery and ensemble members, loaded for a tour."""
    from clip2nerf.apps import load_mapper
    from clip2nerf.index import Gallery
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import TextEmbeddingCache, load_vlm

    # Prompts and queries are the same on every run: keep their embeddings, so a cached
    # rerun does not load the text tower at all.
    vlm = TextEmbeddingCache(load_vlm(str(w.vlm), device=device), w.tour / TEXT_EMBEDDINGS)
    nf2vec = Nf2vec.from_pretrained(w.nf2vec, device)
    own = TourModel(nf2vec,
                    load_mapper(w.mapper(nerf2clip_spec("gt", n_views)), "nerf2clip", vlm, nf2vec),
                    load_mapper(w.mapper(SEARCH_MAPPER), "clip2nerf", vlm, nf2vec))
    gallery = Gallery.load(w.gallery)
    members = _ensemble_members(w, ensemble, vlm, device, n_views)
    if members:
        members.insert(0, own)
        say(f"\n(ensemble of {len(members)} nf2vec models: labels and searches average "
            "their outputs)")
    parts = _ensemble_parts(gallery, members, w) if members else []
    return _Tour(w, device, vlm, own, gallery, members, parts, say)


@dataclass
class _Tour:
    """A tour's loaded models, and the PNGs it has written so far."""

    w: Workdir
    device: str
    vlm: Any
    model: TourModel
    """The workdir's own models."""
    gallery: Any
    members: list[TourModel]
    """Empty for one model; else every member, the workdir's own first."""
    parts: list
    """Each member's gallery embeddings and clip2nerf (``_ensemble_parts``)."""
    say: Callable[[str], None]
    pngs: list[str] = field(default_factory=list)

    def strip(self, tiles: list, labels: list[str], name: str) -> Path:
        """Write the PNG strip ``W/tour/<name>``."""
        from clip2nerf.apps import strip_png

        out = self.w.tour / name
        strip_png(tiles, labels, out)
        self.pngs.append(str(out))
        return out

    def thumb(self, hit) -> Any:
        """(96, 96) view rendered from a hit's NeRF (cached), or None if it has no file."""
        from clip2nerf.apps import render_nerf_view, resolve_source

        src = resolve_source(hit, self.w.nerfs)
        return None if src is None else render_nerf_view(src, resolution=96, device=self.device,
                                                         cache_dir=self.w.tour / THUMBS)

    def search(self, text: str | None = None, images: list | None = None) -> list:
        """Top-5 gallery NeRFs for a text or an image, with the ensemble if there is one."""
        from clip2nerf.apps import search

        if not self.members:
            return search(self.gallery, self.model.clip2nerf, self.vlm, text=text,
                          images=images, k=5)
        query = self.vlm.embed_texts([text]) if text is not None else \
            self.vlm.embed_images(images)
        return _ensemble_search(self.gallery, self.parts, query, 5)

    def zero_shot_labels(self, eval_ids: Sequence[str], classes: Sequence[str]
                         ) -> list[dict[str, Any]]:
        """1. zero-shot labels of ``eval_ids`` from their NeRF files, no rendering."""
        from clip2nerf.apps import ZeroShotClassifier
        from clip2nerf.nerf.manifest import nerf_path

        files = [nerf_path(self.w.nerfs, i) for i in eval_ids]
        labels = ZeroShotClassifier(self.model.nf2vec, self.model.nerf2clip, self.vlm, classes,
                                    device=self.device,
                                    members=[(m.nf2vec, m.nerf2clip) for m in self.members[1:]]
                                    ).classify_files(files)
        rows = [{"object_id": c.object_id, "truth": c.stored_class, "label": c.label,
                 "score": c.score} for c in labels]
        self.say(f"\nZero-shot labels of {len(rows)} held-out NeRFs from their weights alone "
                 f"(nf2vec -> nerf2clip -> nearest {ZERO_SHOT_TEMPLATE.format('...')!r}): "
                 f"{_label_accuracy(rows):.0%} correct")
        for r in rows[: min(8, len(rows))]:
            mark = "ok " if r["label"] == r["truth"] else "   "
            self.say(f"  {mark}{r['object_id']:<18} -> {r['label']:<11} (truth {r['truth']}, "
                     f"score {r['score']:.2f})")
        return rows

    def text_searches(self) -> dict[str, list[dict[str, Any]]]:
        """2. text queries, including paraphrases without the class name."""
        from clip2nerf.apps import text_tile

        text_hits: dict[str, list[dict[str, Any]]] = {}
        self.say(f"\nTop-5 NeRFs for text queries (gallery: {len(self.gallery)} held-out NeRFs):")
        for q in TEXT_QUERIES:
            hits = self.search(text=q)
            text_hits[q] = [{"object_id": h.object_id, "label": h.label, "score": h.score}
                            for h in hits]
            self.say(f"  {q!r:<24} " + ", ".join(f"{h.object_id}({h.score:.2f})" for h in hits))
            self.strip([text_tile(q, 96)] + [self.thumb(h) for h in hits],
                       ["query"] + [f"{h.rank}. {h.label}" for h in hits],
                       f"text_{q.replace(' ', '_')}.png")
        return text_hits

    def photo_search(self, ds) -> dict[str, Any]:
        """3. a held-out ground-truth view used as a photo."""
        test_id = ds.object_ids("test")[0]
        obj = ds.get(test_id)
        photo = obj.load_view(obj.n_views // 2)
        hits = self.search(images=[photo])
        self.say(f"\nTop-5 NeRFs for a photo of {test_id} (a held-out view):")
        self.say("  " + ", ".join(f"{h.object_id}({h.score:.2f})" for h in hits))
        self.strip([photo] + [self.thumb(h) for h in hits],
                   [f"photo: {obj.class_name}"] + [f"{h.rank}. {h.label}" for h in hits],
                   "photo_query.png")
        return {"object_id": test_id, "class": obj.class_name,
                "hits": [{"object_id": h.object_id, "label": h.label, "score": h.score}
                         for h in hits]}

    def generation(self) -> None:
        """4. generation from text: clip2nerf -> nf2vec decoder -> rendered views. Rendering
        the decoder is the tour's slowest step: a rerun with the same models reuses it."""
        from clip2nerf.apps import generate, strip_png, text_tile
        from clip2nerf.mapping.model import WEIGHTS_NAME

        out = self.w.tour / "generate_text.png"
        key = {"text": GENERATE_TEXT, "nf2vec": self.model.nf2vec.space, "vlm": self.vlm.space,
               "clip2nerf": file_digest(self.w.mapper(SEARCH_MAPPER) / WEIGHTS_NAME),
               "views": 6, "resolution": 96}
        key_file = self.w.tour / GENERATE_KEY
        if not (out.is_file() and key_file.is_file() and _read_key(key_file) == key):
            gen = generate(self.model.nf2vec, self.model.clip2nerf, self.vlm, text=GENERATE_TEXT,
                           n_views=6, resolution=96, device=self.device)
            strip_png([text_tile(GENERATE_TEXT, 96)] + list(gen.views),
                      ["text"] + [f"view {i + 1}" for i in range(len(gen.views))], out)
            atomic_write_json(key_file, key)
        self.pngs.append(str(out))
        self.say(f"\nGenerated views of {GENERATE_TEXT!r} (clip2nerf -> nf2vec decoder): {out}")


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
