"""clip2nerf: connect NeRFs, images and text.

NeRF weights are embedded by an nf2vec meta-encoder, images and text by a frozen
vision-language model, and two small mapping networks translate between the spaces.
Heavy submodules (torch models) are imported lazily by the code that needs them so that
``import clip2nerf`` and ``clip2nerf --help`` stay fast.
"""

from clip2nerf.errors import UserError

__version__ = "0.1.0"

__all__ = ["UserError", "__version__"]
