"""The models a service composes, loaded once at start-up and checked against each other."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from clip2nerf.catalogue import Catalogue
from clip2nerf.errors import UserError
from clip2nerf.vlm.base import VisionLanguageModel, WrappedVLM

LockMode = Literal["text", "all", "none"]
LOCK_MODES = ("text", "all", "none")


class SerialisedTextVLM(WrappedVLM):
    """A VLM whose text tower runs one call at a time; image calls stay concurrent.

    Hugging Face fast tokenizers are one shared Rust object per model; concurrent calls can
    fail with ``RuntimeError: Already borrowed`` (huggingface/tokenizers#537,
    huggingface/transformers#47085), so the text tower (MiniLM's or CLIP's) is serialised.
    """

    def __init__(self, inner: VisionLanguageModel):
        super().__init__(inner)
        self._lock = threading.Lock()

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self.inner._embed_text_batch(texts)


@dataclass
class ServiceModels:
    """VLM, nf2vec, both mappers and the zero-shot prompts of one catalogue."""

    vlm: Any
    nf2vec: Any
    clip2nerf: Any
    nerf2clip: Any
    classes: list[str]
    prompts: np.ndarray
    """(c, vlm.dim) unit embeddings of the classes' prompts (computed once)."""
    device: str = "cpu"
    lock: LockMode = "text"
    """What runs one request at a time: ``text`` (default) only the VLM's text tower,
    ``all`` every model call (see ``compute``), ``none`` nothing."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def compute(self) -> contextlib.AbstractContextManager:
        """The section every model call runs in: a lock with ``lock="all"``, else nothing.

        Measured with ``benchmarks/bench_serve.py --locks text,none,all,text,none`` (tiny
        demo's models, 10k NeRFs, 4 client threads, a shared 2-core machine): in every mode
        the answers to concurrent requests equal the serial ones and none of 4000 requests
        failed, so torch inference (no_grad, eval modules) and faiss's read-only ``search``
        are safe from several threads. Text q/s: ``all`` 32, ``text`` 46-50, ``none`` 54-55;
        one-image q/s: ``all`` 59, ``text`` 65-94, ``none`` 86-97. Serialising everything
        costs a third of the text throughput; the one shared object with a documented race
        is a Hugging Face fast tokenizer (``text`` mode, within 10% of ``none``).
        """
        return self._lock if self.lock == "all" else contextlib.nullcontext()


def load_service_models(catalogue: Catalogue, device: str = "cpu", vlm: Any = None,
                        lock: LockMode = "text") -> ServiceModels:
    """Load and cross-check the catalogue's models (a mapper for another VLM or nf2vec model
    is refused). ``vlm`` may be given already loaded (tests use a fake one)."""
    from clip2nerf.apps import load_mapper, prompt_embeddings
    from clip2nerf.nf2vec import Nf2vec
    from clip2nerf.vlm import load_vlm

    m = catalogue.models()
    nf2vec = Nf2vec.from_pretrained(catalogue.resolve(m.nf2vec), device)
    if vlm is None:
        spec = m.vlm
        if spec not in ("offline", "clip", "auto") and catalogue.resolve(spec).exists():
            spec = str(catalogue.resolve(spec))
        vlm = load_vlm(spec, device=device)
    clip2nerf = load_mapper(catalogue.resolve(m.clip2nerf), "clip2nerf", vlm, nf2vec,
                            device=device)
    nerf2clip = load_mapper(catalogue.resolve(m.nerf2clip), "nerf2clip", vlm, nf2vec,
                            device=device)
    if lock not in LOCK_MODES:
        raise UserError(f"lock mode {lock!r}: choose one of {', '.join(LOCK_MODES)}")
    if lock == "text":
        vlm = SerialisedTextVLM(vlm)
    classes = catalogue.classes(m)
    prompts = prompt_embeddings(vlm, classes)
    return ServiceModels(vlm, nf2vec, clip2nerf, nerf2clip, classes, prompts, device, lock)
