"""Vision-language models behind one interface: real CLIP (transformers) and the offline
LiT-style model (frozen all-MiniLM-L6-v2 text tower + a small trained CNN image tower).

Heavy libraries (torch, transformers, sentence-transformers) load only when a model does.
"""

from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.clip_backend import DEFAULT_CLIP, CLIPBackendConfig, CLIPVisionLanguageModel
from clip2nerf.vlm.embed_views import embed_views
from clip2nerf.vlm.factory import VLM_SPEC_HELP, clip2nerf_home, default_offline_dir, load_vlm
from clip2nerf.vlm.offline import OFFLINE_FAMILY, OfflineVLM, OfflineVLMConfig
from clip2nerf.vlm.preprocess import composite_on_white, images_to_batch, to_rgb_array
from clip2nerf.vlm.text_cache import TextEmbeddingCache
from clip2nerf.vlm.train_offline import (
    ZERO_SHOT_TEMPLATE,
    OfflineTrainConfig,
    prepare_offline,
    zero_shot_accuracy,
)

__all__ = [
    "DEFAULT_CLIP",
    "OFFLINE_FAMILY",
    "VLM_SPEC_HELP",
    "ZERO_SHOT_TEMPLATE",
    "CLIPBackendConfig",
    "CLIPVisionLanguageModel",
    "OfflineTrainConfig",
    "OfflineVLM",
    "OfflineVLMConfig",
    "TextEmbeddingCache",
    "VisionLanguageModel",
    "clip2nerf_home",
    "composite_on_white",
    "default_offline_dir",
    "embed_views",
    "images_to_batch",
    "load_vlm",
    "prepare_offline",
    "to_rgb_array",
    "zero_shot_accuracy",
]
