"""Gaussian attribute decoder of "Triplane Meets Gaussian Splatting" (TGS, arXiv 2312.09147, ``GSLayer``).

Each point queries the triplane (bilinear, :func:`lift3d.scenes.triplane.sample_triplane`, planes
summed) at its position divided by the box radius; the feature, concatenated with the point's own
feature from the upsampler, goes through an MLP and one linear head per attribute. Heads are
zero-initialised with biases that make the initial Gaussian neutral, as in TGS: zero offset, scale
``init_scale``, identity rotation, opacity ``init_opacity``, and the colour given as ``base_rgb`` (the
input pixel each point projects to; the colour head predicts a logit residual on it), or grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lift3d.scenes.triplane import sample_triplane


@dataclass
class GaussianAttributes:
    """Per-point Gaussian attributes, raw storage as :class:`lift3d.scenes.gaussians.Gaussians`.

    Attributes:
        means: ``[B, N, 3]`` centres (point + bounded offset).
        quats: ``[B, N, 4]`` unit quaternions ``(w, x, y, z)``.
        log_scales: ``[B, N, 3]`` log standard deviations (at most ``log(max_scale)``).
        opacity_logits: ``[B, N]``.
        rgb: ``[B, N, 3]`` colour in [0, 1] (SH degree 0).
    """

    means: torch.Tensor
    quats: torch.Tensor
    log_scales: torch.Tensor
    opacity_logits: torch.Tensor
    rgb: torch.Tensor


class GaussianHead(nn.Module):
    """``(planes [B,3,C,R,R], points [B,N,3], features [B,N,D]) ->`` :class:`GaussianAttributes`.

    Args:
        plane_channels: C. point_dim: D. hidden: MLP width.
        radius: half-size of the triplane's box (points are divided by it before sampling).
        max_offset: bound of the position offset, ``(sigmoid(v) - 0.5) * 2 * max_offset``.
        init_scale, max_scale: initial and largest standard deviation. init_opacity: initial opacity.
    """

    def __init__(self, plane_channels: int, point_dim: int, hidden: int, radius: float, max_offset: float,
                 init_scale: float, max_scale: float, init_opacity: float) -> None:
        super().__init__()
        self.radius, self.max_offset, self.log_max_scale = radius, max_offset, math.log(max_scale)
        self.mlp = nn.Sequential(nn.Linear(plane_channels + point_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
        sizes = {"offset": 3, "scale": 3, "rotation": 4, "opacity": 1, "colour": 3}
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in sizes.items()})
        biases = {"scale": math.log(init_scale), "opacity": math.log(init_opacity / (1 - init_opacity))}
        for name, head in self.heads.items():
            nn.init.zeros_(head.weight)
            nn.init.constant_(head.bias, biases.get(name, 0.0))
        with torch.no_grad():
            self.heads["rotation"].bias[0] = 1.0

    def forward(self, planes: torch.Tensor, points: torch.Tensor, features: torch.Tensor,
                base_rgb: torch.Tensor | None = None) -> GaussianAttributes:
        """``base_rgb [B, N, 3]``: optional colour the colour head starts from (residual in logit space)."""
        f = sample_triplane(planes, (points / self.radius).clamp(-1.0, 1.0))
        h = self.mlp(torch.cat([f, features], dim=-1))
        offset = (torch.sigmoid(self.heads["offset"](h)) - 0.5) * (2.0 * self.max_offset)
        return GaussianAttributes(
            means=points + offset,
            quats=nn.functional.normalize(self.heads["rotation"](h), dim=-1),
            log_scales=self.heads["scale"](h).clamp(max=self.log_max_scale),
            opacity_logits=self.heads["opacity"](h)[..., 0],
            rgb=torch.sigmoid(self.heads["colour"](h) + (0.0 if base_rgb is None else torch.logit(base_rgb.clamp(0.02, 0.98)))),
        )
