"""A generic adapter from a diffusers ``UNet2DConditionModel`` (+ scheduler, + optional VAE) to
:class:`~lift3d.priors.base.DiffusionPrior`.

Latent space when a ``AutoencoderKL`` is given (Stable Diffusion, MVDream, Zero123), pixel space in
[-1, 1] otherwise (DeepFloyd IF stage 1, tiny test models). Text conditions are the UNet's
``encoder_hidden_states``; a camera condition is fed as ``class_labels`` when the UNet has a class
embedding (e.g. ``class_embed_type="projection"`` with ``projection_class_embeddings_input_dim=16``
for flattened camera-to-world matrices). Weights are frozen; gradients reach only the images
through ``encode``. Real-checkpoint loaders build on this class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lift3d.cameras import Cameras
from lift3d.priors.base import (
    Branch,
    Conditions,
    PredictionType,
    c2w_camera_condition,
    to_epsilon,
    vp_add_noise,
)


class UNetPrior(torch.nn.Module):
    """Frozen diffusers UNet (+ VAE) as a diffusion prior.

    Args:
        unet: a ``UNet2DConditionModel``.
        scheduler: any diffusers scheduler with ``alphas_cumprod`` and ``config.prediction_type``.
        vae: an ``AutoencoderKL`` for latent priors, or None for pixel space.
    """

    lora_phi: bool = True
    """Whether VSD's phi can be a LoRA of this UNet called on ``(z_t, t, text states)`` alone."""

    def __init__(self, unet: Any, scheduler: Any, vae: Any | None = None) -> None:
        super().__init__()
        self.unet = unet.requires_grad_(False).eval()
        self.vae = None if vae is None else vae.requires_grad_(False).eval()
        acp = torch.as_tensor(scheduler.alphas_cumprod).float().clone()
        self.register_buffer("alphas_cumprod", acp)
        self.num_train_timesteps = int(acp.shape[0])
        self.prediction_type = PredictionType(scheduler.config.get("prediction_type", "epsilon"))
        self.channels = int(unet.config.out_channels)
        self.latent_size = int(unet.config.sample_size)
        self.vae_scale = 1 if vae is None else 2 ** (len(vae.config.block_out_channels) - 1)
        self.resolution = self.latent_size * self.vae_scale
        if vae is not None:
            self.scaling_factor = float(vae.config.scaling_factor)
            self.shift_factor = float(vae.config.get("shift_factor", None) or 0.0)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, H, W, 3]`` in [0, 1] -> ``[B, C, h, w]`` latents (VAE posterior mode) or [-1, 1] pixels."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [B, H, W, 3] in [0, 1], got {tuple(images.shape)}")
        x = images.permute(0, 3, 1, 2).float()
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", align_corners=False)
        x = x * 2.0 - 1.0
        if self.vae is None:
            return x
        latents = self.vae.encode(x.to(self.vae.dtype)).latent_dist.mode().float()
        return (latents - self.shift_factor) * self.scaling_factor

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` -> ``[B, H, W, 3]`` images in [0, 1]."""
        if self.vae is not None:
            x = self.vae.decode((x / self.scaling_factor + self.shift_factor).to(self.vae.dtype)).sample.float()
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return vp_add_noise(self.alphas_cumprod, x0, t, noise)

    def camera_condition(self, cameras: Cameras) -> torch.Tensor | None:
        """Flattened c2w ``[B, 16]`` when the UNet has a class embedding, else None."""
        return c2w_camera_condition(cameras) if self.unet.class_embedding is not None else None

    def forward_unet(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor,
                     camera: torch.Tensor | None = None, raw: bool = False) -> torch.Tensor:
        """One UNet forward for ``embeddings`` ``[N, L, D]``: epsilon ``[N, C, h, w]`` (native output if ``raw``)."""
        class_labels = camera if self.unet.class_embedding is not None else None
        if self.unet.class_embedding is not None and class_labels is None:
            raise ValueError("this UNet has a class/camera embedding: pass conditions.camera "
                             "(prior.camera_condition(cameras)).")
        dtype = self.unet.dtype
        out = self.unet(x_t.to(dtype), t, encoder_hidden_states=embeddings.to(dtype),
                        class_labels=None if class_labels is None else class_labels.to(dtype)).sample.float()
        if raw:
            return out
        return to_epsilon(out, x_t, t, self.alphas_cumprod, self.prediction_type)

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, conditions: Conditions,
                branches: Sequence[Branch]) -> dict[Branch, torch.Tensor]:
        """Epsilon for every branch from ONE batched UNet call (branch order is internal bookkeeping)."""
        b = x_t.shape[0]
        names = [Branch(x) for x in branches]
        embeds = []
        for name in names:
            e = conditions.embedding(name)
            if e.ndim != 3 or e.shape[0] not in (1, b):
                raise ValueError(f"conditions.{name.value} must be [B or 1, L, D] text states, got {tuple(e.shape)}")
            embeds.append(e.expand(b, -1, -1))
        if len({e.shape[1:] for e in embeds}) > 1:
            raise ValueError(f"branch embeddings differ in shape: {[tuple(e.shape) for e in embeds]}; "
                             "pad all prompts to the same token length.")
        n = len(names)
        camera = conditions.camera
        eps = self.forward_unet(x_t.repeat(n, 1, 1, 1), t.repeat(n), torch.cat(embeds, dim=0),
                                None if camera is None else camera.repeat(n, 1))
        return dict(zip(names, eps.chunk(n, dim=0)))
