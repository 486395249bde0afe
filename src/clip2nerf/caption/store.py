"""The caption file: captions of a dataset's objects, by one named captioner.

``DATA/captions/<captioner>.json`` (or any path)::

    {"format": "clip2nerf-captions", "version": 1, "captioner": "blip2:Salesforce/...",
     "dataset": name, "settings": {...},
     "objects": {"<object id>": {"captions": ["...", ...], "views": [0, 6]}, ...}}

Written atomically after every chunk of objects, so an interrupted run resumes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Required

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from clip2nerf.errors import UserError
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.io import atomic_write_json
from clip2nerf.utils.validate import parse, schema

CAPTIONS_FORMAT = "clip2nerf-captions"
CAPTIONS_VERSION = 1


@schema(extra="ignore")
class CaptionEntry(TypedDict, total=False):
    """One object's entry: at least one caption (``views`` and the like are for the record)."""

    captions: Required[Annotated[list[str], Field(min_length=1)]]


@schema(extra="ignore")
class CaptionFileSchema(TypedDict, total=False):
    """The schema of a caption file (``read_captions``)."""

    format: Required[Literal["clip2nerf-captions"]]
    version: Bound(int, 0).field
    captioner: str
    dataset: str
    settings: dict[str, Any]
    objects: Required[dict[str, CaptionEntry]]


@dataclass
class CaptionFile:
    captioner: str
    dataset: str
    settings: dict[str, Any]
    objects: dict[str, dict[str, Any]]

    def texts(self, ids: Sequence[str]) -> list[list[str]]:
        """The captions of ``ids`` (a missing object is a UserError naming it)."""
        missing = [i for i in ids if i not in self.objects]
        if missing:
            raise UserError(f"captions by {self.captioner}: no captions for {len(missing)} "
                            f"objects (e.g. {missing[0]}); run `clip2nerf caption` on them")
        return [list(self.objects[i]["captions"]) for i in ids]

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"format": CAPTIONS_FORMAT, "version": CAPTIONS_VERSION,
                                 "captioner": self.captioner, "dataset": self.dataset,
                                 "settings": self.settings, "objects": self.objects})


def read_captions(path: str | Path) -> CaptionFile:
    """A caption file written by `clip2nerf caption`, checked (one error line names the file)."""
    from clip2nerf.utils.io import read_json

    data = read_json(path, "caption file")
    if not isinstance(data, dict) or data.get("format") != CAPTIONS_FORMAT:
        raise UserError(f"{path} is not a clip2nerf caption file")
    parse(CaptionFileSchema, data, "", UserError, where=str(path))
    if data.get("version", 0) > CAPTIONS_VERSION:
        raise UserError(f"{path}: caption file version {data['version']} is newer than this "
                        "clip2nerf; upgrade clip2nerf")
    return CaptionFile(data.get("captioner", ""), data.get("dataset", ""),
                       dict(data.get("settings", {})), data["objects"])


def default_caption_path(data: str | Path, captioner: str) -> Path:
    """Where a captioner's captions of a dataset live: ``DATA/captions/<captioner slug>.json``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", captioner).strip("_")
    return Path(data) / "captions" / f"{slug}.json"


def dataset_captions(ds, ids: Sequence[str]) -> list[list[str]]:
    """The dataset's own captions (``meta.json``), one per object; missing ones refused."""
    texts = [ds.get(i).caption or "" for i in ids]
    empty = [i for i, t in zip(ids, texts, strict=True) if not t.strip()]
    if empty:
        raise UserError(f"{ds.root}: objects without a caption (e.g. {empty[0]}); caption "
                        "them with `clip2nerf caption` and pass --captions")
    return [[t] for t in texts]


def caption_dataset(data: str | Path, captioner, out: str | Path | None = None,
                    split: str | None = None, views_per_object: int = 1, chunk: int = 16,
                    overwrite: bool = False, progress: bool = True,
                    log: Callable[[str], None] = print) -> Path:
    """Caption ``views_per_object`` evenly spaced views of every object (resumable)."""
    from tqdm import tqdm

    from clip2nerf.data.layouts import open_dataset

    if views_per_object < 1 or chunk < 1:
        raise UserError("--views and --chunk must be at least 1")
    ds = open_dataset(data)
    ids = ds.split_ids(split)
    path = Path(out) if out is not None else default_caption_path(ds.root, captioner.name)
    settings = {"views_per_object": views_per_object,
                "prompt": getattr(captioner, "prompt", ""),
                "max_new_tokens": getattr(captioner, "max_new_tokens", None)}
    store = CaptionFile(captioner.name, ds.name, settings, {})
    if path.exists() and not overwrite:
        old = read_captions(path)
        if old.captioner != captioner.name or old.settings != settings:
            raise UserError(f"--out {path} holds captions by {old.captioner} with other "
                            "settings; pass --overwrite or another --out")
        store = old
    todo = [i for i in ids if i not in store.objects]
    bar = tqdm(total=len(ids), initial=len(ids) - len(todo), desc=f"caption ({captioner.name})",
               unit="obj", disable=not progress)
    for start in range(0, len(todo), chunk):
        objs = [ds.get(i) for i in todo[start:start + chunk]]
        picks = [sorted({int(k * o.n_views / views_per_object) for k in range(views_per_object)})
                 for o in objs]
        images = [o.load_view(v) for o, vs in zip(objs, picks, strict=True) for v in vs]
        texts = iter(captioner.captions(images))
        for o, vs in zip(objs, picks, strict=True):
            store.objects[o.object_id] = {"captions": [next(texts) for _ in vs], "views": vs}
        store.save(path)
        bar.update(len(objs))
    bar.close()
    if not todo and not path.exists():
        store.save(path)
    log(f"wrote {path}: captions of {len(ids)} objects by {captioner.name} "
        f"({len(todo)} captioned now)")
    return path
