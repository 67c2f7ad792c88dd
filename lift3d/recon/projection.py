"""Per-point image features by projection into the input view (TGS, arXiv 2312.09147, ``points_projection``).

Each point is projected with the canonical input camera (:func:`lift3d.recon.camera.input_camera`,
pinhole, via :meth:`lift3d.cameras.Cameras.project`) and the input image (RGB + mask) is sampled there
bilinearly. TGS rasterizes the points to give occluded points zero features; we sample every point
(no visibility test), which for the procedural world's uniform albedo gives occluded points the
colour of the surface in front of them, the right answer there.
"""

from __future__ import annotations

import torch
from torch import nn

from lift3d.recon.camera import input_camera


class InputViewProjection(nn.Module):
    """``(images [B, S, S, C], points [B, N, 3]) -> [B, N, C]`` image values at the points' projections."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        cam = input_camera(image_size)
        self.register_buffer("c2w", cam.c2w, persistent=False)
        self.register_buffer("K", cam.K, persistent=False)

    def pixels(self, points: torch.Tensor) -> torch.Tensor:
        """``[B, N, 2]`` pixel coordinates (x right, y down, pixel centres at +0.5) of ``points [B, N, 3]``."""
        from lift3d.cameras import Cameras

        S = self.image_size
        cam = Cameras(self.c2w.to(points.dtype), self.K.to(points.dtype), S, S)
        uv, _ = cam.project(points.reshape(1, -1, 3))
        return uv.reshape(*points.shape[:-1], 2)

    def forward(self, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        grid = self.pixels(points) / self.image_size * 2.0 - 1.0  # align_corners=False convention
        out = nn.functional.grid_sample(images.permute(0, 3, 1, 2), grid[:, :, None, :], mode="bilinear",
                                        padding_mode="border", align_corners=False)  # [B, C, N, 1]
        return out[..., 0].transpose(1, 2)
