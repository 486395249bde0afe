"""clip2nerf: connect NeRFs, images and text.

NeRF weights are embedded by an nf2vec meta-encoder, images and text by a frozen
vision-language model, and two small mapping networks translate between the spaces.
Heavy submodules (torch models) are imported lazily by the code that needs them so that
``import clip2nerf`` and ``clip2nerf --help`` stay fast.

Importing clip2nerf first sets the OpenMP wait policy to passive (unless ``OMP_WAIT_POLICY``
is already set): it must happen before torch loads its OpenMP runtime, and idle spinning
workers made 2-thread stages up to 10x slower on a busy machine (``clip2nerf.utils.threads``).
"""

from clip2nerf.utils.threads import apply_wait_policy

apply_wait_policy()

from clip2nerf.errors import UserError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["UserError", "__version__"]
