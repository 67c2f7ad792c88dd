"""Delta Denoising Score.

"Delta Denoising Score", Hertz, Aberman, Cohen-Or, arXiv 2304.07090.
With the same t and the same noise for a source image/prompt pair and the optimised target,
``g = w(t) (e_hat(z_t(x_tgt); y_tgt) - e_hat(z_t(x_src); y_src))``: the source pair's SDS term is a
baseline that cancels SDS's noisy, prompt-independent component. Defaults from the official notebook
(google/prompt-to-prompt ``DDS_zeroshot.ipynb``): CFG 7.5, w = 1, t in [50, 948].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import ScheduleSpec, TimestepSchedule, Weighting, broadcast, cfg, weight
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, predict_x0


@dataclass(frozen=True)
class DDSConfig:
    """Delta Denoising Score (arXiv 2304.07090). Needs ``conditions.source`` and ``conditions.source_images``."""

    guidance_scale: float = 7.5
    """CFG scale applied to both branches (diffusers convention)."""
    weighting: Weighting = Weighting.UNIFORM
    """w(t); the notebook uses 1."""
    timesteps: TimestepSchedule = TimestepSchedule(0.05, 0.948)
    """Timestep range (fractions of T; 50..948 for T = 1000)."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g, None = off."""

    def build(self, prior: DiffusionPrior) -> DDS:
        return DDS(self, prior)

    def needs(self) -> frozenset[Branch]:
        """The source prompt (and ``conditions.source_images``, renders of the source scene)."""
        return frozenset({Branch.SOURCE})


def _batch(e: torch.Tensor | None, b: int) -> torch.Tensor | None:
    return None if e is None else e.expand(b, *e.shape[1:])


class DDS(Guidance):
    """Delta Denoising Score; see :class:`DDSConfig`. Target and source go through ONE prior call."""

    cfg: DDSConfig

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if conditions.source_images is None:
            raise ValueError("DDS needs conditions.source_images ([B, H, W, 3] source renders in [0, 1]).")
        b = x.shape[0]
        x_src = self.prior.encode(conditions.source_images.expand(b, -1, -1, -1))
        if x_src.shape != x.shape:
            raise ValueError(f"source images encode to {tuple(x_src.shape)}, target to {tuple(x.shape)}")
        text, source = conditions.embedding(Branch.TEXT), conditions.embedding(Branch.SOURCE)
        uncond = _batch(conditions.embedding(Branch.UNCOND), b)
        both = Conditions(text=torch.cat([_batch(text, b), _batch(source, b)]), uncond=torch.cat([uncond, uncond]),
                          camera=None if conditions.camera is None else conditions.camera.repeat(2, 1),
                          image=None if conditions.image is None else conditions.image.repeat(2, *[1] * (conditions.image.ndim - 1)))
        z = self.prior.add_noise(torch.cat([x, x_src]), t.repeat(2), noise.repeat(2, 1, 1, 1))
        eps = self.prior.predict(z, t.repeat(2), both, (Branch.TEXT, Branch.UNCOND))
        e_hat = cfg(eps[Branch.UNCOND], eps[Branch.TEXT], self.cfg.guidance_scale)
        e_tgt, e_src = e_hat.chunk(2)
        w = weight(self.cfg.weighting, self.prior.alphas_cumprod, t)
        x0 = predict_x0(z[:b], t, e_tgt, self.prior.alphas_cumprod)
        return broadcast(w, x) * (e_tgt - e_src), {"w": w, "x0": x0}
