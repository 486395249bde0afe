"""Build a tiny, randomly initialised SD + depth-ControlNet pipeline offline (for tests).

The tokenizer is a real CLIP BPE tokenizer built from the openai-clip package's vocabulary
(``tests/vlm/vlm_helpers.py``); all networks are a few thousand parameters, so 2 denoising
steps at 32 px take well under a second on a CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "vlm"))

from vlm_helpers import write_clip_vocab  # noqa: E402


def make_tiny_controlnet_pipeline(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """Save a tiny pipeline to ``root/sd`` and its ControlNet to ``root/controlnet``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = write_clip_vocab(root / "_vocab")
    tokenizer = CLIPTokenizer(str(vocab), str(merges), model_max_length=77)
    torch.manual_seed(seed)
    blocks = dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4)
    attn = dict(cross_attention_dim=16, attention_head_dim=2,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"))
    unet = UNet2DConditionModel(**blocks, **attn, sample_size=8, in_channels=4, out_channels=4,
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    controlnet = ControlNetModel(**blocks, **attn, in_channels=4,
                                 conditioning_embedding_out_channels=(4, 8))
    vae = AutoencoderKL(**blocks, in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionControlNetPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.save_pretrained(root / "sd")
    controlnet.save_pretrained(root / "controlnet")
    return root / "sd", root / "controlnet"
