"""Tiny CPU fixtures for guidance tests: random diffusers UNets/VAE built from config (no downloads)."""

from __future__ import annotations

import torch

from lift3d.priors.unet import UNetPrior


def tiny_unet_prior(latent: bool = False, size: int = 8, seed: int = 0, prediction_type: str = "epsilon",
                    camera: bool = False) -> UNetPrior:
    """A random ``UNet2DConditionModel`` (+ tiny ``AutoencoderKL`` when ``latent``) with SD's schedule."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    torch.manual_seed(seed)
    ch = 4 if latent else 3
    extra = {"class_embed_type": "projection", "projection_class_embeddings_input_dim": 16} if camera else {}
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=size, in_channels=ch, out_channels=ch,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32, **extra)
    vae = None
    if latent:
        vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                            norm_num_groups=32, layers_per_block=1)
    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                          prediction_type=prediction_type)
    return UNetPrior(unet, sched, vae)


def text_states(batch: int, seed: int, length: int = 4, dim: int = 32) -> torch.Tensor:
    """Random ``[batch, length, dim]`` stand-in text-encoder states."""
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed))
