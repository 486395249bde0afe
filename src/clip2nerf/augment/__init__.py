"""From synthetic to real: augmented training images and photo-style query sets.

``photo``: renders composited on real photographs (scikit-image's bundled photos, split into
training and held-out backgrounds) with lighting, blur, noise, JPEG, crops and framing.
``controlnet``: depth-conditioned Stable Diffusion images of the views (paper §6.1, Table 4).
Both write a dataset folder in the clip2nerf format, with provenance per image.
"""

from clip2nerf.augment.backgrounds import HELDOUT_PHOTOS, TRAIN_PHOTOS, photos, pool_for_split
from clip2nerf.augment.photo import PhotoAugConfig, augment_photo, compose_photo, image_seed
from clip2nerf.augment.writer import AugmentedImage, write_augmented

__all__ = [
    "HELDOUT_PHOTOS", "TRAIN_PHOTOS", "AugmentedImage", "PhotoAugConfig", "augment_photo",
    "compose_photo", "image_seed", "photos", "pool_for_split", "write_augmented",
]
