"""Deterministic DDIM sampling (eta = 0) from a pixel-space prior with classifier-free guidance.

"Denoising Diffusion Implicit Models", Song et al., arXiv 2010.02502 (eq. 12 with sigma = 0), with
"trailing" timestep spacing ("Common Diffusion Noise Schedules and Sample Steps are Flawed", arXiv
2305.08891) and classifier-free guidance ("Classifier-Free Diffusion Guidance", arXiv 2207.12598):
``eps = eps_uncond + w (eps_text - eps_uncond)``. The x0 estimate is clipped to the data range [-1, 1].
"""

from __future__ import annotations

import torch

from lift3d.priors.base import Branch, Conditions
from lift3d.priors.unet import UNetPrior


def ddim_timesteps(num_train_timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps from ``num_train_timesteps - 1`` down to ``num_train_timesteps / steps - 1`` (trailing)."""
    if not 1 <= steps <= num_train_timesteps:
        raise ValueError(f"steps must be in [1, {num_train_timesteps}], got {steps}")
    return [round(num_train_timesteps - i * num_train_timesteps / steps) - 1 for i in range(steps)]


@torch.no_grad()
def ddim_sample(prior: UNetPrior, conditions: Conditions, batch_size: int, steps: int = 30,
                guidance_scale: float = 5.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``batch_size`` images ``[B, H, W, 3]`` in [0, 1].

    Args:
        prior: a pixel-space :class:`~lift3d.priors.unet.UNetPrior` (e.g. the bundled prior).
        conditions: ``text`` and ``uncond`` embeddings (and ``camera`` if the prior takes one), batch ``B`` or 1.
        guidance_scale: classifier-free guidance weight ``w`` (1 = no guidance, text branch only).
        generator: seeds the initial noise (CPU generator).
    """
    acp = prior.alphas_cumprod.cpu().double()
    device = prior.alphas_cumprod.device
    shape = (batch_size, prior.channels, prior.latent_size, prior.latent_size)
    x = torch.randn(shape, generator=generator).to(device)
    ts = ddim_timesteps(prior.num_train_timesteps, steps)
    branches = [Branch.TEXT] if guidance_scale == 1.0 else [Branch.TEXT, Branch.UNCOND]
    for i, t in enumerate(ts):
        out = prior.predict(x, torch.full((batch_size,), t, device=device), conditions, branches)
        eps = out[Branch.TEXT]
        if guidance_scale != 1.0:
            eps = out[Branch.UNCOND] + guidance_scale * (eps - out[Branch.UNCOND])
        a, a_prev = acp[t].item(), (acp[ts[i + 1]].item() if i + 1 < len(ts) else 1.0)
        x0 = ((x - (1 - a) ** 0.5 * eps) / a ** 0.5).clamp(-1.0, 1.0)
        eps = (x - a ** 0.5 * x0) / (1 - a) ** 0.5
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return prior.decode(x)


__all__ = ["ddim_sample", "ddim_timesteps"]
