"""nf2vec: embed NeRFs from their MLP weights, and render NeRFs from embeddings.

Public API (shapes in the docstrings)::

    weights_to_matrix, matrix_to_weights, matrix_shape     the frozen weight-matrix layout
    Nf2vecConfig, EncoderConfig, DecoderConfig, TrainConfig, load_preset, list_presets
    Nf2vec (.embed, .decoder, save_pretrained, from_pretrained, .space)
    Nf2vecEncoder, ImplicitDecoder
    load_nerf_set, NerfSet, batched_nerf_forward
    train_nf2vec, embed_nerfs, embed_matrices, render_embedding
"""

from clip2nerf.nf2vec.config import (
    DecoderConfig,
    EncoderConfig,
    Nf2vecConfig,
    TrainConfig,
    list_presets,
    load_preset,
)
from clip2nerf.nf2vec.decoder import ImplicitDecoder
from clip2nerf.nf2vec.embed import embed_matrices, embed_nerfs
from clip2nerf.nf2vec.encoder import Nf2vecEncoder
from clip2nerf.nf2vec.layout import (
    LAYOUT_VERSION,
    matrix_shape,
    matrix_to_state_dict,
    matrix_to_weights,
    state_dict_to_matrix,
    weights_to_matrix,
)
from clip2nerf.nf2vec.model import Nf2vec
from clip2nerf.nf2vec.nerfs import NerfSet, batched_nerf_forward, load_nerf_set
from clip2nerf.nf2vec.train import train_nf2vec
from clip2nerf.nf2vec.views import render_embedding

__all__ = [
    "LAYOUT_VERSION",
    "DecoderConfig",
    "EncoderConfig",
    "ImplicitDecoder",
    "NerfSet",
    "Nf2vec",
    "Nf2vecConfig",
    "Nf2vecEncoder",
    "TrainConfig",
    "batched_nerf_forward",
    "embed_matrices",
    "embed_nerfs",
    "list_presets",
    "load_nerf_set",
    "load_preset",
    "matrix_shape",
    "matrix_to_state_dict",
    "matrix_to_weights",
    "render_embedding",
    "state_dict_to_matrix",
    "train_nf2vec",
    "weights_to_matrix",
]
