"""The implicit decoder: an embedding plus a point -> (rgb, density), i.e. a radiance field.

Layers: ``[e ⊕ γ(x)] -> hidden x n_before -> [h ⊕ e ⊕ γ(x)] -> hidden x n_after -> 4``
(ReLU between, ``γ`` the NeRFs' frequency encoding; ``DecoderConfig.skip = "add"`` is nf2vec's
``h + ReLU(W [e ⊕ γ(x)])`` followed by ``n_after`` layers); with ``DecoderConfig.color_head`` the last
hidden layer gives density, and colour comes from one more layer ``[h ⊕ e] -> hidden/2 -> 3``.
The first and the skip Linear (and the colour layer) are split into an embedding part and a
point part: ``W [e ⊕ γ] = W_e e + W_p γ``. ``W_e e`` (plus the bias) is the same for every point
of one NeRF, so ``condition`` computes it once per NeRF and ``query`` adds it to each point's
``W_p γ`` — millions of points cost no extra embedding work.

Embeddings are L2-normalised and scaled by ``sqrt(embed_dim)`` on the way in, so the decoder
takes unit vectors (what ``embed`` returns and what the mapping networks predict) and its
first layer sees unit-variance inputs.

Public embeddings are centred: the encoder's unit outputs share one large direction (cosine
0.95-0.999 between any two NeRFs), so after training the mean direction of the training
NeRFs, ``embedding_center``, is removed and the result re-normalised (``center_embeddings``).
``condition`` undoes that exactly (``uncenter_embeddings``) before the decoder's layers, which
were trained on the uncentred directions. A zero centre (models trained before this, or
during training) changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nerf.encoding import frequency_encode, normalize_to_box
from clip2nerf.nerf.field import density_activation
from clip2nerf.nf2vec.config import DecoderConfig


@dataclass
class Conditioning:
    """Per-NeRF terms of the decoder: ``first`` and ``skip`` (batch, hidden), and ``color``
    (batch, hidden // 2) with ``DecoderConfig.color_head``."""

    first: torch.Tensor
    skip: torch.Tensor
    color: torch.Tensor | None = None

    def select(self, rows: slice) -> Conditioning:
        """The terms of some of the NeRFs."""
        return Conditioning(self.first[rows], self.skip[rows],
                            None if self.color is None else self.color[rows])


def center_embeddings(directions: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Unit encoder outputs ``(batch, d)`` -> unit vectors of ``directions - center``."""
    return nn.functional.normalize(directions - center, dim=-1)


def uncenter_embeddings(embeddings: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Inverse of ``center_embeddings`` for ``|center| < 1``: the unit ``u = center + r e``.

    ``r > 0`` solves ``|center + r e| = 1``: ``r = -(c.e) + sqrt((c.e)^2 + 1 - |c|^2)``.
    """
    e = nn.functional.normalize(embeddings.float(), dim=-1)
    ce = e @ center
    r = -ce + torch.sqrt((ce * ce + 1 - center.dot(center)).clamp(min=0))
    return center + r[..., None] * e


class ImplicitDecoder(nn.Module):
    """A radiance field conditioned on an nf2vec embedding (see the module docstring)."""

    def __init__(self, config: DecoderConfig, embed_dim: int, nerf: NerfConfig):
        super().__init__()
        if config.n_layers_before_skip < 1 or config.n_layers_after_skip < 1:
            raise ValueError("the decoder needs at least one layer before and after the skip")
        self.config = config
        self.nerf = nerf
        self.embed_dim = embed_dim
        h = config.hidden
        p = 3 * 2 * config.n_freqs
        self.first_embed = nn.Linear(embed_dim, h)  # carries the first layer's bias
        self.first_point = nn.Linear(p, h, bias=False)
        self.before = nn.ModuleList(nn.Linear(h, h) for _ in range(config.n_layers_before_skip - 1))
        self.skip_embed = nn.Linear(embed_dim, h)
        self.skip_point = nn.Linear(p, h, bias=False)
        n_after = config.n_layers_after_skip
        if config.skip == "concat":
            self.skip_hidden = nn.Linear(h, h, bias=False)
            n_after -= 1
        elif config.color_head:
            raise ValueError("color_head needs skip='concat'")
        self.after = nn.ModuleList(nn.Linear(h, h) for _ in range(n_after))
        if config.color_head:
            hc = h // 2
            self.color_embed = nn.Linear(embed_dim, hc)
            self.color_hidden = nn.Linear(h, hc, bias=False)
            self.color_out = nn.Linear(hc, 3)
            self.out = nn.Linear(h, 1)  # density only
        else:
            self.color_embed = None
            self.out = nn.Linear(h, nerf.out_dim)
        lo, hi = nerf.aabb
        self.register_buffer("aabb", torch.tensor([*lo, *hi], dtype=torch.float32),
                             persistent=False)
        # Set once training ends (``set_center``); saved with the weights.
        self.register_buffer("embedding_center", torch.zeros(embed_dim))
        self.trained = True
        """False when the weights are not trained (``Nf2vecConfig.decoder_trained``)."""

    def set_center(self, directions: torch.Tensor) -> None:
        """Centre public embeddings on the mean of these unit encoder directions ``(n, d)``
        (``Nf2vec.embed(..., centered=False)``)."""
        mean = directions.float().mean(dim=0)
        # |mean| < 1 keeps the inverse unique; identical inputs would make it 1.
        self.embedding_center.copy_(mean * min(1.0, 0.99999 / max(float(mean.norm()), 1e-12)))

    def condition(self, embeddings: torch.Tensor, centered: bool = True) -> Conditioning:
        """(batch, embed_dim) embeddings -> per-NeRF terms of the first and skip layers.

        ``centered``: the embeddings are public (centred) ones, as ``Nf2vec.embed`` returns and
        the mappers predict; ``False`` for the encoder's raw outputs during training.
        """
        if not self.trained:
            from clip2nerf.errors import UserError

            raise UserError("this nf2vec model has no trained decoder (an imported reference "
                            "encoder: clip2nerf cannot load nf2vec's decoder); decode or "
                            "generate with a model trained by `clip2nerf nf2vec train`")
        if self.config.raw_embeddings:
            e = embeddings.float()
        else:
            e = (uncenter_embeddings(embeddings, self.embedding_center) if centered else
                 nn.functional.normalize(embeddings.float(), dim=-1))
            e = e * math.sqrt(self.embed_dim)
        color = None if self.color_embed is None else self.color_embed(e)
        return Conditioning(self.first_embed(e), self.skip_embed(e), color)

    def raw(self, cond: Conditioning, xyz: torch.Tensor) -> torch.Tensor:
        """Outputs before the activations.

        Args:
            cond: from ``condition`` for ``batch`` NeRFs.
            xyz: (batch, n, 3) world points.
        Returns:
            (batch, n, 4) raw rgb logits and density logit.
        """
        b, n, _ = xyz.shape
        g = frequency_encode(normalize_to_box(xyz.reshape(-1, 3), self.aabb),
                             self.config.n_freqs).reshape(b, n, -1)
        x = torch.relu(self.first_point(g) + cond.first[:, None])
        for layer in self.before:
            x = torch.relu(layer(x))
        if self.config.skip == "add":
            x = x + torch.relu(self.skip_point(g) + cond.skip[:, None])
        else:
            x = torch.relu(self.skip_hidden(x) + self.skip_point(g) + cond.skip[:, None])
        for layer in self.after:
            x = torch.relu(layer(x))
        if self.color_embed is None:
            return self.out(x)
        c = torch.relu(self.color_hidden(x) + cond.color[:, None])
        return torch.cat((self.color_out(c), self.out(x)), dim=-1)

    def query(self, cond: Conditioning, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, n, 3) points -> rgb (batch, n, 3) in [0, 1], sigma (batch, n) >= 0.

        Same activations as the NeRFs (sigmoid colour, truncated exp density with its bias).
        """
        out = self.raw(cond, xyz)
        return torch.sigmoid(out[..., :3]), density_activation(out[..., 3], self.nerf)

    def field(self, embedding: torch.Tensor):
        """A ``field_fn`` for the renderer: ``xyz (n, 3) -> (rgb (n, 3), sigma (n,))``.

        Args:
            embedding: (embed_dim,) one NeRF's embedding; conditioned once, here.
        """
        cond = self.condition(embedding.reshape(1, -1))

        def field_fn(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rgb, sigma = self.query(cond, xyz[None])
            return rgb[0], sigma[0]

        return field_fn
