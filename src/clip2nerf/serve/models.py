"""The models a service composes, loaded once at start-up and checked against each other."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clip2nerf.serve.catalogue import Catalogue


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
    serialise: bool = True
    """Run torch/faiss calls one request at a time (see ``compute``)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def compute(self) -> contextlib.AbstractContextManager:
        """The section every model call runs in.

        Measured (benchmarks/bench_serve.py --threads): on this project's CPU models,
        concurrent unlocked calls from the thread pool give the same results as serial ones
        but no more throughput, since torch already spreads one call over the cores and
        threads then compete; serialising keeps latency predictable and also covers VLM
        backends (tokenizers, the text-embedding cache) whose thread safety is not promised.
        """
        return self._lock if self.serialise else contextlib.nullcontext()


def load_service_models(catalogue: Catalogue, device: str = "cpu", vlm: Any = None,
                        serialise: bool = True) -> ServiceModels:
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
    classes = catalogue.classes(m)
    prompts = prompt_embeddings(vlm, classes)
    return ServiceModels(vlm, nf2vec, clip2nerf, nerf2clip, classes, prompts, device,
                         serialise)
