"""Score Jacobian Chaining with Perturb-and-Average Scoring (PAAS).

"Score Jacobian Chaining: Lifting Pretrained 2D Diffusion Models for 3D Generation", Wang et al.,
arXiv 2212.00774. Written in the paper's variance-exploding (VE) form: ``sigma = sqrt((1 - abar) / abar)``,
the denoiser ``D(y + sigma n) = z - sigma e_hat(z / sqrt(1 + sigma^2), t)`` and the PAAS gradient
``g = -(D - y) / sigma`` ("var_red", Eq. 16) or ``-(D - z) / sigma`` (Eq. 15), averaged over K
perturbations ``n``. Since ``z / sqrt(1 + sigma^2)`` is exactly the DDPM-noised sample, var_red SJC
equals SDS with ``w = 1`` (``g = e_hat - n``) and Eq. 15 gives ``g = e_hat``. Defaults from the
official ``run_sjc.py``: CFG 100, t in [0.01, 0.97], one perturbation per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import ScheduleSpec, TimestepSchedule, broadcast, cfg
from lift3d.priors.base import Branch, Conditions, DiffusionPrior


@dataclass(frozen=True)
class SJCConfig:
    """Score Jacobian Chaining with PAAS (arXiv 2212.00774)."""

    guidance_scale: float = 100.0
    """CFG scale (diffusers convention)."""
    var_red: bool = True
    """Use ``D - y`` (Eq. 16, lower variance) instead of ``D - z`` (Eq. 15)."""
    num_perturbations: int = 1
    """K noise draws averaged per step (PAAS)."""
    timesteps: TimestepSchedule = TimestepSchedule(0.01, 0.97)
    """Timestep range (``us[30:-10]`` in the release)."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g, None = off."""

    def build(self, prior: DiffusionPrior) -> SJC:
        return SJC(self, prior)

    def needs(self) -> frozenset[Branch]:
        """Conditioning branches beyond the prompt and the empty prompt: none."""
        return frozenset()


class SJC(Guidance):
    """SJC / PAAS; see :class:`SJCConfig`. Injected noise is ``[B, C, h, w]`` or ``[K, B, C, h, w]``."""

    cfg: SJCConfig

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        k = self.cfg.num_perturbations
        return tuple(x.shape) if k == 1 else (k, *x.shape)

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        noises = noise if noise.ndim == x.ndim + 1 else noise[None]
        abar = broadcast(self.prior.alphas_cumprod.to(t.device)[t].float(), x)
        sigma = ((1.0 - abar) / abar).sqrt()  # VE noise level
        g = torch.zeros_like(x)
        x0 = torch.zeros_like(x)
        for n in noises:
            z = x + sigma * n  # VE-noisy input
            z_vp = z / (1.0 + sigma**2).sqrt()
            eps = self.prior.predict(z_vp, t, conditions, (Branch.TEXT, Branch.UNCOND))
            e_hat = cfg(eps[Branch.UNCOND], eps[Branch.TEXT], self.cfg.guidance_scale)
            denoised = z - sigma * e_hat
            g = g - (denoised - (x if self.cfg.var_red else z)) / sigma
            x0 = x0 + denoised
        k = noises.shape[0]
        return g / k, {"w": torch.ones_like(t, dtype=x.dtype), "x0": x0 / k}
