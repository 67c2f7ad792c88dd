"""Differentiable perspective-correct barycentrics and attribute interpolation for visible fragments.

Visibility (which face wins a pixel) comes from a no-grad rasterizer; here the winning face's
screen-space barycentrics at the pixel centre are recomputed from the projected vertices with
autograd, then corrected for perspective (``b_i / z_i`` renormalised), so colours, uvs, normals and
depth receive gradients with respect to vertex positions and attributes, as in nvdiffrast
("Modular Primitives for High-Performance Differentiable Rendering", arXiv 2011.03277, section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Fragments:
    """The covered pixels of a batch, as a flat list of P fragments.

    Attributes:
        cam: ``[P]`` camera index.
        pixel: ``[P]`` flat pixel index ``y * W + x`` within the image.
        face: ``[P]`` winning face.
        bary: ``[P, 3]`` perspective-correct barycentrics (differentiable).
        bary_screen: ``[P, 3]`` screen-space (affine) barycentrics (differentiable).
        depth: ``[P]`` camera-space z (differentiable).
    """

    cam: torch.Tensor
    pixel: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor
    bary_screen: torch.Tensor
    depth: torch.Tensor


def fragments(pix: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, face_ids: torch.Tensor) -> Fragments:
    """Differentiable barycentrics of the winning faces.

    Args:
        pix: ``[B, V, 2]`` projected vertices (with autograd history).
        z: ``[B, V]`` camera-space depth.
        faces: ``[F, 3]`` indices.
        face_ids: ``[B, H, W]`` winners from the rasterizer, ``-1`` for background.
    """
    B, H, W = face_ids.shape
    cam, py, px = torch.nonzero(face_ids >= 0, as_tuple=True)
    face = face_ids[cam, py, px]
    vid = faces.long()[face]  # [P, 3]
    p = pix[cam[:, None], vid]  # [P, 3, 2]
    cx, cy = px.to(pix.dtype) + 0.5, py.to(pix.dtype) + 0.5
    x0, y0, x1, y1, x2, y2 = p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1], p[:, 2, 0], p[:, 2, 1]
    area2 = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    b0 = ((x1 - cx) * (y2 - cy) - (y1 - cy) * (x2 - cx)) / area2
    b1 = ((x2 - cx) * (y0 - cy) - (y2 - cy) * (x0 - cx)) / area2
    bs = torch.stack([b0, b1, 1.0 - b0 - b1], dim=-1)
    w = bs / z[cam[:, None], vid]
    inv_depth = w.sum(-1, keepdim=True)
    return Fragments(cam, py * W + px, face, w / inv_depth, bs, 1.0 / inv_depth.squeeze(-1))


def interpolate(attr: torch.Tensor, faces: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Interpolate per-vertex attributes ``[V, C]`` (or per-camera ``[B, V, C]``) to ``[P, C]``."""
    vid = faces.long()[frags.face]
    vals = attr[vid] if attr.ndim == 2 else attr[frags.cam[:, None], vid]
    return (frags.bary[..., None] * vals).sum(1)


def to_image(values: torch.Tensor, frags: Fragments, shape: tuple[int, int, int]) -> torch.Tensor:
    """Scatter fragment values ``[P, C]`` into zero-filled ``[B, H, W, C]`` images (differentiable)."""
    B, H, W = shape
    flat = frags.cam * (H * W) + frags.pixel
    out = values.new_zeros(B * H * W, values.shape[-1]).index_add(0, flat, values)
    return out.view(B, H, W, values.shape[-1])
