"""Point-cloud decoder and point upsampling of "Triplane Meets Gaussian Splatting" (TGS, arXiv 2312.09147).

:class:`PointDecoder`: learned query tokens cross-attend to the image tokens; a linear layer maps each
query to a coarse 3D point. :class:`PointUpsampler` replaces TGS's Snowflake SPD++ stages
("SnowflakeNet", arXiv 2108.04444) by their core operation, point splitting: every point spawns ``k``
children at bounded offsets predicted from the parent's feature and a learned per-child code.
"""

from __future__ import annotations

import torch
from torch import nn

from lift3d.recon.blocks import Transformer


class PointDecoder(nn.Module):
    """Image tokens ``[B, T, context_dim]`` -> coarse points ``[B, P, 3]`` and their features ``[B, P, dim]``.

    Points are ``radius * tanh(linear(feature))``, so they stay inside the ``[-radius, radius]^3`` box.
    """

    def __init__(self, num_points: int, dim: int, depth: int, heads: int, context_dim: int, radius: float) -> None:
        super().__init__()
        self.radius = radius
        self.queries = nn.Parameter(torch.randn(1, num_points, dim) * 0.5)
        self.transformer = Transformer(dim, depth, heads, context_dim)
        self.out = nn.Linear(dim, 3)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.transformer(self.queries.expand(tokens.shape[0], -1, -1), tokens)
        return self.radius * torch.tanh(self.out(h)), h


class PointUpsampler(nn.Module):
    """Split each point into ``factor`` children: ``[B, P, 3], [B, P, dim] -> [B, P*factor, 3], [B, P*factor, dim]``.

    Child ``j`` of point ``p`` sits at ``p + max_offset * tanh(mlp(f_p + e_j + W x_p))`` (children of one
    parent are listed consecutively), where ``e_j`` is a learned code per child slot.
    """

    def __init__(self, dim: int, factor: int, max_offset: float) -> None:
        super().__init__()
        self.factor, self.max_offset = factor, max_offset
        self.child = nn.Parameter(torch.randn(factor, dim) * 0.5)
        self.xyz = nn.Linear(3, dim)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.offset = nn.Linear(dim, 3)

    def forward(self, points: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, P, D = features.shape
        h = (features + self.xyz(points))[:, :, None, :] + self.child  # [B, P, k, D]
        h = h + self.mlp(h)
        children = points[:, :, None, :] + self.max_offset * torch.tanh(self.offset(h))
        return children.reshape(B, P * self.factor, 3), h.reshape(B, P * self.factor, D)
