"""Feature mapping networks between the VLM space and the nf2vec space (paper §3.2).

``clip2nerf`` maps a VLM image/text embedding to an nf2vec NeRF embedding; ``nerf2clip`` maps
an nf2vec embedding to the VLM space. Arrays in, arrays out: the inputs are
:class:`~clip2nerf.utils.embeddings.EmbeddingTable` s, nothing here knows about NeRFs or images.
"""

from clip2nerf.mapping.config import PAPER_DEFAULTS, MapperConfig, TrainConfig
from clip2nerf.mapping.data import PairSet, build_pairs
from clip2nerf.mapping.losses import cosine_loss
from clip2nerf.mapping.model import FeatureMapper, load_mapper_config
from clip2nerf.mapping.train import TrainResult, class_recall_at_1, train_mapper

__all__ = [
    "PAPER_DEFAULTS",
    "FeatureMapper",
    "MapperConfig",
    "PairSet",
    "TrainConfig",
    "TrainResult",
    "build_pairs",
    "class_recall_at_1",
    "cosine_loss",
    "load_mapper_config",
    "train_mapper",
]
