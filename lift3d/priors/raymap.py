"""Per-pixel Plücker ray maps: the camera as an image the denoiser can read pixel by pixel.

A ray through pixel ``p`` with origin ``o`` and unit direction ``d`` is the line with Plücker coordinates
``(d, o x d)`` ("Light Field Networks: Neural Scene Representations with Single-Evaluation Rendering",
arXiv 2106.02634): six numbers that do not depend on where along the line ``o`` sits. Concatenated to a
diffusion model's input as six extra channels, they tell every pixel which line of the world it sees, so
the network can place a canonically oriented object (a cube's edges, a table's legs) from local features
instead of decoding the yaw from a global embedding vector; multi-view diffusion models condition on the
camera this way ("CAT3D: Create Anything in 3D with Multi-View Diffusion Models", arXiv 2405.10314, sec. 3.1;
"SPAD: Spatially Aware Multiview Diffusers", arXiv 2402.05235).
"""

from __future__ import annotations

import torch

from lift3d.cameras import Cameras

RAYMAP_CHANNELS = 6
"""Channels of :func:`plucker_raymap`: ray direction (3), then moment ``o x d`` (3)."""


def plucker_raymap(cameras: Cameras) -> torch.Tensor:
    """``[B, 6, H, W]`` Plücker coordinates ``(d, o x d)`` of the rays through each pixel centre (world space)."""
    origins, directions = cameras.rays()
    moment = torch.linalg.cross(origins, directions, dim=-1)
    return torch.cat([directions, moment], dim=-1).permute(0, 3, 1, 2).contiguous()


__all__ = ["RAYMAP_CHANNELS", "plucker_raymap"]
