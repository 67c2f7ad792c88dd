"""Noise-Free Score Distillation.

"Noise-Free Score Distillation", Katzir, Patashnik, Cohen-Or, Lischinski, arXiv 2310.17590 (ICLR 2024).
The CFG score splits into a condition direction ``delta_C = e_c - e_u`` and a domain term
``delta_D``, estimated noise-free as ``e_u`` for small t (< 200 of 1000) and ``e_u - e_n`` otherwise
(``e_n``: a fixed negative prompt, whose direction is taken as ``-delta_D``). There is no ``- eps`` term:
``g = w(t) (delta_D + s delta_C)``. No official code exists; this follows the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import ScheduleSpec, TimestepSchedule, Weighting, broadcast, weight
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, predict_x0

NFSD_NEGATIVE_PROMPT = ("unrealistic, blurry, low quality, out of focus, ugly, low contrast, dull, dark, "
                        "low-resolution, gloomy")
"""The paper's negative prompt; encode it into ``conditions.negative``."""


@dataclass(frozen=True)
class NFSDConfig:
    """Noise-Free Score Distillation (arXiv 2310.17590); paper defaults."""

    guidance_scale: float = 7.5
    """Scale of the condition direction ``e_c - e_u``."""
    threshold: int = 200
    """Below this timestep (of T = 1000) ``delta_D = e_u``; at or above, ``e_u - e_n``."""
    weighting: Weighting = Weighting.SDS
    """w(t)."""
    timesteps: TimestepSchedule = TimestepSchedule(0.02, 0.98)
    """Timestep range and annealing."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g, None = off."""

    def build(self, prior: DiffusionPrior) -> NFSD:
        return NFSD(self, prior)

    def needs(self) -> frozenset[Branch]:
        """The negative prompt (pipelines default it to :data:`NFSD_NEGATIVE_PROMPT`)."""
        return frozenset({Branch.NEGATIVE})


class NFSD(Guidance):
    """Noise-Free Score Distillation; see :class:`NFSDConfig`. Needs ``conditions.negative``."""

    cfg: NFSDConfig

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = self.prior.add_noise(x, t, noise)
        eps = self.prior.predict(z, t, conditions, (Branch.TEXT, Branch.UNCOND, Branch.NEGATIVE))
        e_c, e_u, e_n = eps[Branch.TEXT], eps[Branch.UNCOND], eps[Branch.NEGATIVE]
        late = broadcast((t >= self.cfg.threshold).to(x.dtype), x)
        delta_d = e_u - late * e_n
        delta_c = e_c - e_u
        w = weight(self.cfg.weighting, self.prior.alphas_cumprod, t)
        x0 = predict_x0(z, t, e_u + self.cfg.guidance_scale * delta_c, self.prior.alphas_cumprod)
        return broadcast(w, x) * (delta_d + self.cfg.guidance_scale * delta_c), {"w": w, "x0": x0}
