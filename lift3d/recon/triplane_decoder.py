"""Triplane decoder of "Triplane Meets Gaussian Splatting" (TGS, arXiv 2312.09147).

Learned triplane tokens ``3 x R x R`` (one per plane cell, planes XY, XZ, YZ as
:data:`lift3d.scenes.triplane.PLANE_AXES`) cross-attend to the image tokens, are reshaped into three
``R x R`` planes and upsampled 2x by a transposed convolution (TGS's ``TriplaneUpsampleNetwork``).
"""

from __future__ import annotations

import torch
from torch import nn

from lift3d.recon.blocks import Transformer


class TriplaneDecoderNet(nn.Module):
    """Image tokens ``[B, T, context_dim]`` -> planes ``[B, 3, channels, 2R, 2R]``."""

    def __init__(self, resolution: int, dim: int, depth: int, heads: int, context_dim: int, channels: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.tokens = nn.Parameter(torch.randn(1, 3 * resolution * resolution, dim) * 0.02)
        self.transformer = Transformer(dim, depth, heads, context_dim)
        self.upsample = nn.ConvTranspose2d(dim, channels, kernel_size=2, stride=2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, R = tokens.shape[0], self.resolution
        h = self.transformer(self.tokens.expand(B, -1, -1), tokens)  # [B, 3*R*R, dim]
        h = h.reshape(B * 3, R, R, -1).permute(0, 3, 1, 2)  # rows index the plane's second axis (grid_sample's y)
        planes = self.upsample(h)
        return planes.reshape(B, 3, *planes.shape[1:])
