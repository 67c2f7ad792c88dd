"""Dense voxel grid of density and colour, as in "Score Jacobian Chaining: Lifting Pretrained 2D
Diffusion Models for 3D Generation" (Wang et al., arXiv 2212.00774).

Two voxel tensors, one density channel and three colour channels, trilinearly interpolated with
``torch.nn.functional.grid_sample``; no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lift3d.scenes.field import DensityActivation, Field


@dataclass(frozen=True)
class DensityGridConfig:
    """Dense voxel grid field."""

    resolution: int = 64
    """Voxels per side."""
    radius: float = 1.0
    """Half-size of the cubic bounding box centred at the origin."""
    activation: DensityActivation = field(default_factory=lambda: DensityActivation(bias=-1.0))
    """Density activation, bias and DreamFusion blob."""
    init_std: float = 0.01
    """Standard deviation of the initial voxel values (deterministic given the torch seed)."""

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise ValueError(f"resolution must be >= 2, got {self.resolution}")
        if self.radius <= 0:
            raise ValueError(f"radius must be positive, got {self.radius}")


class DensityGrid(Field):
    """Density + colour voxels inside ``[-radius, radius]^3``.

    Args:
        config: grid size, box and activation.
        generator: draws small random initial voxel values; None starts from all-zero voxels.
    """

    def __init__(self, config: DensityGridConfig | None = None, generator: torch.Generator | None = None) -> None:
        config = config or DensityGridConfig()
        r = config.radius
        super().__init__((-r, -r, -r, r, r, r), config.activation)
        self.config = config
        n = config.resolution
        density = torch.zeros(1, 1, n, n, n)
        color = torch.zeros(1, 3, n, n, n)
        if generator is not None:
            density.normal_(0.0, config.init_std, generator=generator)
            color.normal_(0.0, config.init_std, generator=generator)
        # Layout [1, C, Z, Y, X]: grid_sample reads (x, y, z) coordinates as (W, H, D).
        self.density_voxels = nn.Parameter(density)
        self.color_voxels = nn.Parameter(color)

    def _raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = x.view(1, -1, 1, 1, 3)
        voxels = torch.cat([self.density_voxels, self.color_voxels], dim=1)
        out = nn.functional.grid_sample(voxels, grid, mode="bilinear", align_corners=True)
        out = out.view(4, -1)
        return out[0], out[1:].t()

    def _raw_with_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Density, albedo logits and the density gradient from one ``grid_sample`` of seven channels: the
        gradient is the trilinear interpolation of the voxels' central differences (one-sided at the
        border), which is smooth across cells where autograd's derivative of the trilinear interpolant
        jumps, and costs no double backward (shading normals through autograd cost ~2x the whole render)."""
        n = self.config.resolution
        gz, gy, gx = torch.gradient(self.density_voxels, spacing=2.0 / (n - 1), dim=(2, 3, 4))
        voxels = torch.cat([self.density_voxels, self.color_voxels, gx, gy, gz], dim=1)
        out = nn.functional.grid_sample(voxels, x.view(1, -1, 1, 1, 3), mode="bilinear", align_corners=True)
        out = out.view(7, -1)
        return out[0], out[1:4].t(), out[4:7].t()

    def total_variation(self) -> torch.Tensor:
        """Mean squared difference between neighbouring voxels (density and colour), a smoothness prior
        for sparse views (as in Plenoxels, arXiv 2112.05131)."""
        v = torch.cat([self.density_voxels, self.color_voxels], dim=1)
        return sum(v.diff(dim=d).pow(2).mean() for d in (2, 3, 4)) / 3

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {"params": [self.density_voxels], "lr": lr, "name": "density_voxels"},
            {"params": [self.color_voxels], "lr": lr, "name": "color_voxels"},
        ]
