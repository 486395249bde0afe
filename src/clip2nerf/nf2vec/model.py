"""The nf2vec model (encoder + decoder) and its on-disk format.

A model folder holds ``config.json`` (``Nf2vecConfig.to_dict()``: format, version, the NeRF
architecture it reads, encoder and decoder sizes) and ``model.safetensors`` (the state dict).
``save_pretrained`` writes both atomically; ``from_pretrained`` validates them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from clip2nerf.errors import UserError
from clip2nerf.nf2vec.config import CONFIG_FORMAT, CONFIG_VERSION, Nf2vecConfig
from clip2nerf.nf2vec.decoder import ImplicitDecoder, center_embeddings
from clip2nerf.nf2vec.encoder import Nf2vecEncoder
from clip2nerf.nf2vec.layout import matrix_shape, output_rows

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class Nf2vec(nn.Module):
    """Meta-encoder and implicit decoder, trained together.

    ``embed(matrices (b, rows, hidden)) -> (b, embed_dim)`` L2-normalised, centred embeddings
    (see ``clip2nerf.nf2vec.decoder``); ``decoder.field(embedding)`` is a radiance field the
    NeRF renderer can draw.
    """

    def __init__(self, config: Nf2vecConfig):
        super().__init__()
        self.config = config
        rows, hidden = matrix_shape(config.nerf)
        self.encoder = Nf2vecEncoder(config.encoder, hidden, rows, output_rows(config.nerf),
                                     config.nerf)
        self.decoder = ImplicitDecoder(config.decoder, config.encoder.embed_dim, config.nerf)
        self.decoder.trained = config.decoder_trained

    @property
    def reads_output_padding(self) -> bool:
        """Whether NeRFs' stored tiny-cuda-nn output padding belongs in its input matrices
        (the reference nf2vec's ``tcnn`` layout saw those rows): pass it as ``output_padding``
        to ``load_nerf_set`` / ``read_weight_matrices``."""
        return self.config.encoder.input_layout == "tcnn"

    def embed(self, matrices: torch.Tensor, centered: bool = True) -> torch.Tensor:
        """(batch, rows, hidden) weight matrices -> (batch, embed_dim) unit vectors.

        ``centered=False``: the encoder's unit directions before centring (what training
        conditions the decoder on and what the centre is the mean of).
        With ``config.encoder.unit_output`` False (the imported reference model): the encoder's
        raw outputs, unnormalised, as nf2vec exports them.
        """
        if not self.config.encoder.unit_output:
            return self.encoder(matrices)
        directions = nn.functional.normalize(self.encoder(matrices), dim=-1)
        if not centered:
            return directions
        return center_embeddings(directions, self.decoder.embedding_center)

    def weights_hash(self) -> str:
        """8 hex digits of a SHA-256 over the state dict (names, shapes, bytes)."""
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            t = t.detach().cpu().contiguous()
            if name == "decoder.embedding_center" and not t.any():
                continue  # uncentred: the same space as models saved before centring existed
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()[:8]

    @property
    def space(self) -> str:
        """Embedding-space name, ``nf2vec:<name>@<hash>``: other weights give another name."""
        return f"nf2vec:{self.config.name}@{self.weights_hash()}"

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (each atomically)."""
        from clip2nerf.utils.pretrained import write_pretrained

        write_pretrained(folder, WEIGHTS_NAME, self.state_dict(), self.config.to_dict(),
                         metadata={"format": CONFIG_FORMAT})

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = "cpu") -> Nf2vec:
        """Load a model folder written by ``save_pretrained``; problems are UserErrors naming it."""
        from clip2nerf.utils.pretrained import config_from_dict, read_config_json
        from clip2nerf.utils.weights import load_checked_state_dict

        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"nf2vec model folder not found: {folder} "
                            "(train one with `clip2nerf nf2vec train`)")
        body = read_config_json(folder / CONFIG_NAME, CONFIG_FORMAT, CONFIG_VERSION,
                                "nf2vec model config", format_optional=True)
        config = config_from_dict(Nf2vecConfig, body, folder / CONFIG_NAME, "nf2vec config")
        model = cls(config)
        # Models saved before embeddings were centred have no centre: zero, i.e. uncentred.
        state = load_checked_state_dict(folder / WEIGHTS_NAME, model.state_dict(), "nf2vec model",
                                        optional=("decoder.embedding_center",))
        model.load_state_dict(state)
        return model.to(device).eval()


__all__ = ["Nf2vec", "CONFIG_NAME", "WEIGHTS_NAME"]
