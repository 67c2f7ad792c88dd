"""Score Distillation Sampling.

"DreamFusion: Text-to-3D using 2D Diffusion", Poole et al., arXiv 2209.14988.
``g = w(t) (e_hat(z_t; y, t) - eps)`` with ``e_hat = e_u + s (e_c - e_u)`` (diffusers CFG) and
``w(t) = 1 - abar_t``; the UNet Jacobian is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import (
    ScheduleSpec,
    TimestepSchedule,
    Weighting,
    broadcast,
    cfg,
    perp_neg_eps,
    weight,
)
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, predict_x0


@dataclass(frozen=True)
class SDSConfig:
    """Score Distillation Sampling (DreamFusion, arXiv 2209.14988); defaults of threestudio's dreamfusion-sd."""

    guidance_scale: float = 100.0
    """CFG scale, diffusers convention ``e_u + s (e_c - e_u)`` (threestudio's 100 is our 101)."""
    weighting: Weighting = Weighting.SDS
    """w(t); ``sds`` = 1 - abar_t."""
    timesteps: TimestepSchedule = TimestepSchedule(0.02, 0.98)
    """Timestep range and annealing (fractions of T)."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g (e.g. ``(0, 2.0, 8.0, 1000)``), None = off."""
    negative_as_uncond: bool = True
    """Use ``conditions.negative`` (when set) in place of the empty prompt for CFG."""

    def build(self, prior: DiffusionPrior) -> SDS:
        return SDS(self, prior)

    def needs(self) -> frozenset[Branch]:
        """Conditioning branches beyond the prompt and the empty prompt: none."""
        return frozenset()


def uncond_branch(conditions: Conditions, negative_as_uncond: bool) -> Branch:
    """The branch CFG treats as unconditional: the negative prompt when given and enabled, else the empty one."""
    return Branch.NEGATIVE if negative_as_uncond and conditions.negative is not None else Branch.UNCOND


class SDS(Guidance):
    """Score Distillation Sampling; see :class:`SDSConfig`."""

    cfg: SDSConfig

    def guided_eps(self, z: torch.Tensor, t: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        """CFG-combined epsilon ``[B, C, h, w]`` of the frozen prior at ``z_t`` (Perp-Neg when the conditions
        carry view negatives, :mod:`lift3d.priors.perp_neg`)."""
        unc = uncond_branch(conditions, self.cfg.negative_as_uncond)
        eps = self.prior.predict(z, t, conditions, (Branch.TEXT, unc))
        if conditions.view_weights is None:
            return cfg(eps[unc], eps[Branch.TEXT], self.cfg.guidance_scale)
        views = []
        for k in range(conditions.view_weights.shape[1]):  # one more prior call per view that is ever negative
            if bool((conditions.view_weights[:, k] == 0).all()):
                views.append(None)
                continue
            views.append(self.prior.predict(z, t, conditions.with_(text=conditions.views[:, k]), (Branch.TEXT,))[Branch.TEXT])
        return perp_neg_eps(eps[unc], eps[Branch.TEXT], views, conditions.view_weights, self.cfg.guidance_scale)

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = self.prior.add_noise(x, t, noise)
        e_hat = self.guided_eps(z, t, conditions)
        w = weight(self.cfg.weighting, self.prior.alphas_cumprod, t)
        g = broadcast(w, x) * (e_hat - noise)
        return g, {"w": w, "x0": predict_x0(z, t, e_hat, self.prior.alphas_cumprod)}
