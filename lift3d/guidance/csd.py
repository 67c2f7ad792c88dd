"""Classifier Score Distillation: the classifier-free guidance term alone.

"Text-to-3D with Classifier Score Distillation", Yu et al., arXiv 2310.19415.
``g = w(t) (s (e_c - e_u) - s_neg (e_n - e_u))``: the implicit-classifier score ``e_c - e_u``,
optionally minus a negative-prompt classifier score; no ``- eps`` term, no unconditional score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import ScheduleSpec, TimestepSchedule, Weighting, broadcast, weight
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, predict_x0


@dataclass(frozen=True)
class CSDConfig:
    """Classifier Score Distillation (arXiv 2310.19415)."""

    guidance_scale: float = 40.0
    """Weight of the classifier score ``e_c - e_u``."""
    negative_scale: float = 0.0
    """Weight of the negative classifier score ``e_n - e_u`` (subtracted; needs conditions.negative)."""
    weighting: Weighting = Weighting.SDS
    """w(t)."""
    timesteps: TimestepSchedule = TimestepSchedule(0.02, 0.98)
    """Timestep range and annealing."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g, None = off."""

    def build(self, prior: DiffusionPrior) -> CSD:
        return CSD(self, prior)

    def needs(self) -> frozenset[Branch]:
        """The negative prompt when ``negative_scale`` is not 0."""
        return frozenset({Branch.NEGATIVE}) if self.negative_scale != 0.0 else frozenset()


class CSD(Guidance):
    """Classifier Score Distillation; see :class:`CSDConfig`."""

    cfg: CSDConfig

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = self.prior.add_noise(x, t, noise)
        use_neg = self.cfg.negative_scale != 0.0
        branches = (Branch.TEXT, Branch.UNCOND) + ((Branch.NEGATIVE,) if use_neg else ())
        eps = self.prior.predict(z, t, conditions, branches)
        direction = self.cfg.guidance_scale * (eps[Branch.TEXT] - eps[Branch.UNCOND])
        if use_neg:
            direction = direction - self.cfg.negative_scale * (eps[Branch.NEGATIVE] - eps[Branch.UNCOND])
        w = weight(self.cfg.weighting, self.prior.alphas_cumprod, t)
        x0 = predict_x0(z, t, eps[Branch.UNCOND] + direction, self.prior.alphas_cumprod)
        return broadcast(w, x) * direction, {"w": w, "x0": x0}
