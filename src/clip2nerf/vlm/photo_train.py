"""On-the-fly photo backgrounds for the cnn image tower's training (``prepare-offline
--photo-backgrounds P``).

With probability P every training view drawn into a batch is recomposed by ``augment photo``'s
own ``compose_photo`` over a random crop of a random *training* photo (scale, off-centre
placement, object colour, gamma, blur, noise, JPEG), with a fresh draw every time it is seen;
the other views stay on white. A fixed ``augment photo`` folder (``--extra-views``) gives the
tower 7 composites per object for the whole training; this gives it a new one at every step.
Held-out photos are never read here (``backgrounds.photos("train")`` only).
"""

from __future__ import annotations

import numpy as np


class PhotoBackgrounds:
    """Recomposes chosen rows of a training batch over training photos.

    ``ids``/``owner``/``first``: the training rows as ``prepare_offline`` orders them (object
    ``o``'s rows start at ``first[o]``, its clean views first, then any extra images, which
    are already photos and are left as they are).
    """

    def __init__(self, dataset, ids: list[str], first: np.ndarray, n_rows: int, size: int,
                 prob: float):
        from clip2nerf.augment.backgrounds import photos
        from clip2nerf.augment.photo import PhotoAugConfig

        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"photo background probability {prob}: expected 0..1")
        self.prob, self.size, self.config = prob, size, PhotoAugConfig()
        self.photos = [p.load() for p in photos("train")]
        views, self.source = [], np.full(n_rows, -1, dtype=np.int64)
        for o, oid in enumerate(ids):
            v = dataset.get(oid).load_views()
            self.source[int(first[o]):int(first[o]) + len(v)] = np.arange(len(views),
                                                                         len(views) + len(v))
            views.extend(v)
        self.rgba = views

    def apply(self, batch_u8, rows, gen):
        """``batch_u8``: (b, S, S, 3) uint8 tensor of ``rows``; returns a new tensor."""
        import torch

        from clip2nerf.augment.photo import compose_photo

        pick = torch.rand(len(rows), generator=gen) < self.prob
        seeds = torch.randint(0, 2**31 - 1, (len(rows),), generator=gen)
        out = batch_u8.clone()
        for j in np.flatnonzero(pick.numpy()):
            src = int(self.source[int(rows[j])])
            if src < 0:
                continue  # an extra (already photo) image
            rng = np.random.default_rng(int(seeds[j]))
            photo = self.photos[int(rng.integers(len(self.photos)))]
            rgb, _, _ = compose_photo(self.rgba[src], photo, rng, self.size, self.config)
            out[j] = torch.from_numpy(np.array(rgb))
        return out
