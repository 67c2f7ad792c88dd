"""Perp-Neg view prompting for text-to-3D.

"Re-imagine the Negative Prompt Algorithm: Transform 2D Diffusion into 3D, alleviate Janus problem and
Beyond", Armandpour et al., arXiv 2304.04968. Each camera's positive prompt interpolates the front/side/back
view prompts by azimuth, and the other views act as *negative* prompts whose score is first made
perpendicular to the positive one, so they remove the wrong view without cancelling the object itself:

    e = e_u + s [ (e_pos - e_u) + sum_k w_k perp(e_k - e_u, e_pos - e_u) ],   w_k <= 0

The azimuth schedule of the weights follows the paper's 3D recipe as used by stable-dreamfusion: between
front (0 deg) and side (90 deg) with ``r = 1 - |az| / 90``, the front negative fades in as ``exp(-r a)`` once
``r <= 0.8`` and the side negative as ``exp(-(1 - r) b)`` once ``r >= 0.2``; between side and back
(``r = 1 - (|az| - 90) / 90``) the front is always negative and the side fades in as ``exp(-r b) / 2``.
The combination itself is :func:`lift3d.guidance.functional.perp_neg_eps`; the guidance that uses it is
SDS (:class:`lift3d.guidance.sds.SDS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

VIEW_ORDER = ("front", "side", "back")
"""Order of the view axis of the mixing and weight tensors."""


@dataclass(frozen=True)
class PerpNegConfig:
    """Perp-Neg (arXiv 2304.04968) for view-dependent prompts; defaults of the paper's 3D experiments."""

    negative_weight: float = -2.0
    """Weight of a fully active negative view (negative: it pushes away from that view)."""
    front_decay: float = 2.0
    """How fast the front negative fades in away from the front."""
    side_decay: float = 10.0
    """How fast the side negative fades in away from the side."""


def view_mixing(azimuth_deg: torch.Tensor, cfg: PerpNegConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-camera positive mixing and negative weights over (front, side, back).

    Args:
        azimuth_deg: ``[B]`` azimuths in lift3d's convention (0 = front = +X).

    Returns:
        ``(mix [B, 3], weights [B, 3])``: the positive prompt is ``sum_k mix_k view_k`` (rows sum to 1);
        ``weights`` are the Perp-Neg weights of the views as negatives (<= 0).
    """
    az = ((azimuth_deg.double() + 180.0) % 360.0 - 180.0).abs()  # [0, 180]
    mix = torch.zeros(az.shape[0], 3, dtype=torch.float64)
    weights = torch.zeros_like(mix)
    w = cfg.negative_weight
    for i, a in enumerate(az.tolist()):
        if a < 90.0:
            r = 1.0 - a / 90.0
            mix[i, 0], mix[i, 1] = r, 1.0 - r
            weights[i, 0] = 0.0 if r > 0.8 else math.exp(-r * cfg.front_decay) * w
            weights[i, 1] = 0.0 if r < 0.2 else math.exp(-(1.0 - r) * cfg.side_decay) * w
        else:
            r = 1.0 - (a - 90.0) / 90.0
            mix[i, 1], mix[i, 2] = r, 1.0 - r
            weights[i, 0] = w
            weights[i, 1] = 0.0 if r > 0.8 else math.exp(-r * cfg.side_decay) * w / 2.0
    return mix.float(), weights.float()
