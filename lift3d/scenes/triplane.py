"""Triplane field: three axis-aligned feature planes (XY, XZ, YZ) and an MLP decoder, after
"Efficient Geometry-aware 3D Generative Adversarial Networks" (EG3D, Chan et al., arXiv 2112.07945).

The decoder is a standalone module that takes the planes as an input tensor, so the feed-forward
reconstruction model (which predicts planes) and the optimised :class:`Triplane` scene share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lift3d.scenes.field import DensityActivation, Field, density_albedo_mlp

PLANE_AXES = ((0, 1), (0, 2), (1, 2))
"""Coordinate pairs sampled by each plane: XY, XZ, YZ (grid_sample reads (u, v) as (W, H))."""


def sample_triplane(planes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample three feature planes and sum them.

    Args:
        planes: ``[B, 3, C, H, W]`` feature planes in XY, XZ, YZ order.
        x: ``[B, N, 3]`` points in ``[-1, 1]^3`` box coordinates.

    Returns:
        ``[B, N, C]`` summed plane features.
    """
    if planes.ndim != 5 or planes.shape[1] != 3:
        raise ValueError(f"planes must be [B, 3, C, H, W], got {tuple(planes.shape)}")
    if x.ndim != 3 or x.shape[0] != planes.shape[0] or x.shape[-1] != 3:
        raise ValueError(f"points must be [B, N, 3] with B={planes.shape[0]}, got {tuple(x.shape)}")
    B, _, C, H, W = planes.shape
    coords = torch.stack([x[..., list(axes)] for axes in PLANE_AXES], dim=1)  # [B, 3, N, 2]
    feats = nn.functional.grid_sample(
        planes.reshape(B * 3, C, H, W), coords.reshape(B * 3, -1, 1, 2).to(planes.dtype),
        mode="bilinear", padding_mode="border", align_corners=True,
    )  # [B*3, C, N, 1]
    return feats.view(B, 3, C, -1).sum(1).transpose(1, 2)


@dataclass(frozen=True)
class TriplaneDecoderConfig:
    """MLP that decodes summed triplane features to density and albedo."""

    feature_dim: int = 16
    """Channels C per plane."""
    hidden_dim: int = 64
    """MLP width."""
    num_hidden_layers: int = 1
    """Hidden layers."""
    activation: DensityActivation = field(default_factory=lambda: DensityActivation(kind="exp", bias=-1.0))
    """Density activation, bias and DreamFusion blob."""


class TriplaneDecoder(nn.Module):
    """``(planes, points) -> (density, albedo)``; usable on planes that come from a network."""

    def __init__(self, config: TriplaneDecoderConfig | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = c = config or TriplaneDecoderConfig()
        self.mlp = density_albedo_mlp(c.feature_dim, c.hidden_dim, c.num_hidden_layers, nn.SiLU, generator)

    def raw(self, planes: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activation density ``[B, N]`` and albedo logits ``[B, N, 3]`` at box coords ``[B, N, 3]``."""
        out = self.mlp(sample_triplane(planes, x))
        return out[..., 0], out[..., 1:]

    def forward(self, planes: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Density ``[B, N] >= 0`` and albedo ``[B, N, 3]`` in [0, 1] at box coordinates ``x [B, N, 3]``.

        Points outside ``[-1, 1]^3`` get zero density.
        """
        raw, logits = self.raw(planes, x.clamp(-1.0, 1.0))
        density = self.config.activation(raw, x)
        density = torch.where((x.abs() <= 1.0).all(-1), density, torch.zeros_like(density))
        return density, torch.sigmoid(logits)


@dataclass(frozen=True)
class TriplaneConfig:
    """Optimised triplane scene."""

    resolution: int = 64
    """Plane resolution (H = W)."""
    radius: float = 1.0
    """Half-size of the cubic bounding box centred at the origin."""
    decoder: TriplaneDecoderConfig = field(default_factory=TriplaneDecoderConfig)
    """Decoder MLP."""
    init_std: float = 0.1
    """Standard deviation of the initial plane features."""
    decoder_lr_scale: float = 0.1
    """Learning rate of the decoder relative to the planes."""


class Triplane(Field):
    """A triplane scene: learnable planes ``[1, 3, C, R, R]`` plus a :class:`TriplaneDecoder`."""

    def __init__(self, config: TriplaneConfig | None = None, generator: torch.Generator | None = None) -> None:
        config = config or TriplaneConfig()
        r = config.radius
        super().__init__((-r, -r, -r, r, r, r), config.decoder.activation)
        self.config = config
        n, c = config.resolution, config.decoder.feature_dim
        planes = torch.zeros(1, 3, c, n, n)
        planes.normal_(0.0, config.init_std, generator=generator)
        self.planes = nn.Parameter(planes)
        self.decoder = TriplaneDecoder(config.decoder, generator)

    def _raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw, logits = self.decoder.raw(self.planes, x[None])
        return raw[0], logits[0]

    def total_variation(self) -> torch.Tensor:
        """Mean squared difference between neighbouring plane texels (K-Planes' smoothness prior,
        arXiv 2301.10241)."""
        return (self.planes.diff(dim=-1).pow(2).mean() + self.planes.diff(dim=-2).pow(2).mean()) / 2

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {"params": [self.planes], "lr": lr, "name": "planes"},
            {"params": list(self.decoder.parameters()), "lr": lr * self.config.decoder_lr_scale, "name": "decoder"},
        ]
