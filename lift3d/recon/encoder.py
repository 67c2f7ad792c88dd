"""Image encoder: a small Vision Transformer trained from scratch (TGS uses a frozen/fine-tuned DINOv2).

"An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale" (ViT, arXiv 2010.11929):
non-overlapping patches -> linear embedding (a strided convolution) -> a CLS token and learned
position embeddings -> transformer blocks. The input has 4 channels, RGB over white plus the object
mask (TGS also feeds the mask to its point branch).
"""

from __future__ import annotations

import torch
from torch import nn

from lift3d.recon.blocks import Transformer


class ImageEncoder(nn.Module):
    """``images [B, H, W, 4]`` in [0, 1] (RGB + mask) -> tokens ``[B, 1 + (H/p)^2, dim]``.

    Args:
        image_size: input side ``H = W`` in pixels.
        patch_size: patch side ``p`` (must divide ``image_size``).
        dim: token width. depth: transformer blocks. heads: attention heads.
    """

    def __init__(self, image_size: int, patch_size: int, dim: int, depth: int, heads: int, in_channels: int = 4) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch size {patch_size} must divide the image size {image_size}")
        self.image_size, self.in_channels = image_size, in_channels
        self.patchify = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        tokens = (image_size // patch_size) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.transformer = Transformer(dim, depth, heads)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        B, H, W, C = images.shape
        if (H, W, C) != (self.image_size, self.image_size, self.in_channels):
            raise ValueError(f"images must be [B, {self.image_size}, {self.image_size}, {self.in_channels}], "
                             f"got {tuple(images.shape)}; prepare them with lift3d.recon.inputs.prepare_image")
        x = self.patchify(images.permute(0, 3, 1, 2) * 2.0 - 1.0).flatten(2).transpose(1, 2)  # [B, T, dim]
        x = torch.cat([self.cls.expand(B, -1, -1), x], dim=1) + self.pos
        return self.transformer(x)
