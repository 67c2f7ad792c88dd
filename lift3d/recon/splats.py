"""Render the model's Gaussians with gradients through :class:`lift3d.renderers.GaussianRenderer`.

:class:`~lift3d.scenes.gaussians.Gaussians` stores copies as ``nn.Parameter`` (it is a scene to be
optimised), which would cut the graph back to the network; :class:`SplatView` exposes the same
activated attributes the renderer reads, as plain tensors, so training backpropagates into the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.recon.gaussian_head import GaussianAttributes
from lift3d.renderers.gaussians import GaussianRenderer
from lift3d.scenes.gaussians import SH_C0
from lift3d.types import RenderOutput


@dataclass
class SplatView:
    """One object's Gaussians as the renderer reads them (``means [N,3]``, unit ``quats``, ``scales``, ...)."""

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    sh: torch.Tensor
    active_sh_degree: int = 0
    max_sh_degree: int = 0

    @classmethod
    def from_attributes(cls, attrs: GaussianAttributes, index: int) -> SplatView:
        sh = ((attrs.rgb[index] - 0.5) / SH_C0)[:, None, :]
        return cls(attrs.means[index], attrs.quats[index], attrs.log_scales[index].exp(),
                   torch.sigmoid(attrs.opacity_logits[index]), sh)

    def __len__(self) -> int:
        return self.means.shape[0]

    def validate(self) -> None:
        for name in ("means", "quats", "scales", "opacities", "sh"):
            if not torch.isfinite(getattr(self, name)).all():
                raise ValueError(f"predicted Gaussian {name} are not finite; lower the learning rate")


def render_batch(renderer: GaussianRenderer, attrs: GaussianAttributes, cameras: list[Cameras],
                 background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> RenderOutput:
    """Render object ``b`` of ``attrs`` from ``cameras[b]`` (V views each); outputs are ``[B*V, H, W, C]``."""
    outs = [renderer(SplatView.from_attributes(attrs, b), cams, background)  # type: ignore[arg-type]
            for b, cams in enumerate(cameras)]
    return RenderOutput(rgb=torch.cat([o.rgb for o in outs]), alpha=torch.cat([o.alpha for o in outs]))
