"""Embedding NeRF files with a trained nf2vec encoder."""

from __future__ import annotations

from pathlib import Path

import torch

from clip2nerf.nf2vec.model import Nf2vec
from clip2nerf.nf2vec.nerfs import NerfSet, load_nerf_set
from clip2nerf.utils.embeddings import EmbeddingTable


@torch.no_grad()
def embed_matrices(model: Nf2vec, matrices: torch.Tensor, batch_size: int = 256,
                   device: torch.device | str = "cpu", centered: bool = True) -> torch.Tensor:
    """(n, rows, hidden) weight matrices -> (n, embed_dim) L2-normalised float32 on CPU
    (``centered``: see ``Nf2vec.embed``)."""
    model.eval()
    out = [model.embed(matrices[s:s + batch_size].to(device), centered).cpu()
           for s in range(0, matrices.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.config.encoder.embed_dim)


def embed_nerfs(model: Nf2vec, nerfs: str | Path | NerfSet, batch_size: int = 256,
                device: torch.device | str = "cpu", progress: bool = False,
                splits: dict[str, str] | None = None) -> EmbeddingTable:
    """Embed NeRF files (a folder, a file, or a loaded set) into an ``EmbeddingTable``.

    ids = object ids, labels = classes, ``extra["sources"]`` = NeRF paths, ``extra["splits"]``
    (from ``splits``, the files or the manifest; "" when unknown), ``space`` = ``model.space``
    (``nf2vec:<name>@<hash>``).
    """
    nerf_set = nerfs if isinstance(nerfs, NerfSet) else load_nerf_set(
        nerfs, model.config.nerf, progress, splits=splits, hash_split=False,
        output_padding=model.config.encoder.input_layout == "tcnn")
    vectors = embed_matrices(model, nerf_set.matrices, batch_size, device)
    return EmbeddingTable(vectors.numpy(), nerf_set.ids, nerf_set.classes, model.space,
                          {"sources": nerf_set.paths, "splits": nerf_set.splits})


__all__ = ["embed_matrices", "embed_nerfs"]
