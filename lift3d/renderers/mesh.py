"""Differentiable triangle-mesh renderer: binned z-buffer, perspective-correct interpolation, analytic AA.

Pipeline (each step in its own private module):

1. project vertices with :meth:`lift3d.cameras.Cameras.project` (OpenCV pixels and z);
2. visibility without gradients: our binned z-buffer (``_mesh_raster``), or nvdiffrast on CUDA when it
   is importable (``_mesh_nvdiffrast``);
3. differentiable perspective-correct barycentrics of the winning faces (``_mesh_interp``), which
   interpolate vertex colours or uvs (texture lookup with ``grid_sample``), world normals and depth;
4. shading: unlit albedo, or Lambert + ambient with a world-space light direction;
5. analytic antialiasing of silhouette edges (``_mesh_antialias``, after nvdiffrast, arXiv 2011.03277),
   which gives vertex positions gradients from coverage.

Faces are two-sided unless ``cull_backfaces``; Lambert shading flips normals to face the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from lift3d.cameras import Cameras
from lift3d.renderers._mesh_antialias import antialias
from lift3d.renderers._mesh_interp import Fragments, fragments, interpolate, to_image
from lift3d.renderers._mesh_nvdiffrast import nvdiffrast_available, rasterize_nvdiffrast
from lift3d.renderers._mesh_raster import face_screen_data, rasterize
from lift3d.scenes.mesh import Mesh, face_neighbors, vertex_normals
from lift3d.types import Backend, RenderOutput, resolve_backend


@dataclass(frozen=True)
class MeshRendererConfig:
    """Options of :class:`MeshRenderer`."""

    shading: Literal["albedo", "lambert"] = "albedo"
    """``albedo``: unlit colour; ``lambert``: ``albedo * (ambient + diffuse * max(0, n . l))``."""
    light_direction: tuple[float, float, float] = (1.0, 0.5, 1.0)
    """World-space direction toward the light (normalised internally) for Lambert shading."""
    ambient: float = 0.3
    """Ambient term of Lambert shading."""
    diffuse: float = 0.7
    """Diffuse weight of Lambert shading."""
    antialias: bool = True
    """Analytic silhouette antialiasing (needed for gradients w.r.t. vertex positions at edges)."""
    cull_backfaces: bool = False
    """Drop faces seen from behind (counter-clockwise outward-facing winding assumed)."""
    near: float = 1e-2
    """Faces with a vertex closer than this (camera z) are culled."""
    backend: Backend = "auto"
    """``auto``: nvdiffrast visibility on CUDA when importable, ours otherwise; ``torch``: always ours."""


def _background(background, B: int, H: int, W: int, like: torch.Tensor) -> torch.Tensor:
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if bg.shape == (3,):
        return bg.expand(B, H, W, 3)
    if bg.shape in ((B, H, W, 3), (1, H, W, 3)):
        return bg.expand(B, H, W, 3)
    raise ValueError(f"background must be [3] or [B, H, W, 3] = [{B}, {H}, {W}, 3], got {tuple(bg.shape)}")


def _visibility(pix, z, faces, cameras: Cameras, cfg: MeshRendererConfig) -> torch.Tensor:
    backend = resolve_backend(cfg.backend, pix.device)
    if backend == "cuda" and nvdiffrast_available() and not cfg.cull_backfaces:
        return rasterize_nvdiffrast(pix, z, faces, cameras.width, cameras.height, cfg.near)
    return rasterize(pix, z, faces, cameras.width, cameras.height, cfg.near, cfg.cull_backfaces)


def _albedo(frags: Fragments, faces, colors, uv, texture) -> torch.Tensor:
    if texture is not None:
        st = interpolate(uv, faces, frags)  # [P, 2], v up
        grid = torch.stack([2.0 * st[:, 0] - 1.0, 1.0 - 2.0 * st[:, 1]], dim=-1)[None, None]
        tex = texture.permute(2, 0, 1)[None]
        return F.grid_sample(tex, grid.to(tex.dtype), mode="bilinear", padding_mode="border", align_corners=False)[
            0, :, 0
        ].T
    return interpolate(colors, faces, frags)


def render_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    cameras: Cameras,
    colors: torch.Tensor | None = None,
    uv: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    background=(1.0, 1.0, 1.0),
    config: MeshRendererConfig | None = None,
    neighbors: torch.Tensor | None = None,
) -> RenderOutput:
    """Render a mesh for a batch of cameras.

    Args:
        vertices: ``[V, 3]`` world positions.
        faces: ``[F, 3]`` indices (``F`` may be 0: the image is all background).
        cameras: B cameras.
        colors: ``[V, 3]`` vertex colours (grey when neither colours nor a texture is given).
        uv: ``[V, 2]`` texture coordinates (with ``texture``).
        texture: ``[Ht, Wt, 3]`` texture image, row 0 at the top, ``v`` up.
        background: ``[3]`` colour or ``[B, H, W, 3]`` image.
        config: renderer options.
        neighbors: ``[F, 3]`` face adjacency (:func:`lift3d.scenes.mesh.face_neighbors`), computed if omitted.

    Returns:
        :class:`RenderOutput` with rgb, alpha, z-depth, world normals (alpha-weighted) and aux
        ``face_ids [B, H, W]`` (-1 empty), ``barycentrics [B, H, W, 3]`` (perspective-correct),
        ``albedo [B, H, W, 3]``.
    """
    cfg = config or MeshRendererConfig()
    if vertices.ndim != 2 or vertices.shape[-1] != 3 or faces.ndim != 2 or faces.shape[-1] != 3:
        raise ValueError(f"need vertices [V, 3] and faces [F, 3], got {tuple(vertices.shape)}, {tuple(faces.shape)}")
    if not torch.isfinite(vertices).all():
        raise ValueError("mesh vertices contain NaN or Inf; check the optimizer (learning rate) or the input mesh")
    if faces.numel() and (faces.min() < 0 or faces.max() >= vertices.shape[0]):
        raise ValueError(f"face indices out of range for {vertices.shape[0]} vertices")
    if colors is None and texture is None:
        colors = torch.full_like(vertices, 0.7)
    B, H, W = len(cameras), cameras.height, cameras.width
    cameras = cameras.to(vertices.device, vertices.dtype)
    bg = _background(background, B, H, W, vertices)
    pix, z = cameras.project(vertices)
    face_ids = _visibility(pix, z, faces, cameras, cfg)
    frags = fragments(pix, z, faces, face_ids)
    albedo = _albedo(frags, faces, colors, uv, texture)
    normals = F.normalize(interpolate(vertex_normals(vertices, faces), faces, frags), dim=-1, eps=1e-12)
    color = albedo
    if cfg.shading == "lambert":
        view = interpolate(vertices, faces, frags) - cameras.positions[frags.cam]
        facing = torch.where((normals * view).sum(-1, keepdim=True) > 0, -1.0, 1.0)
        light = F.normalize(torch.tensor(cfg.light_direction, dtype=vertices.dtype, device=vertices.device), dim=0)
        lambert = ((normals * facing) @ light).clamp_min(0.0)[:, None]
        color = albedo * (cfg.ambient + cfg.diffuse * lambert)
    elif cfg.shading != "albedo":
        raise ValueError(f"unknown shading {cfg.shading!r}; choose 'albedo' or 'lambert'")
    shape = (B, H, W)
    hard = to_image(torch.ones_like(frags.depth)[:, None], frags, shape)
    alpha = hard
    rgb = to_image(color, frags, shape) + (1.0 - hard) * bg
    if cfg.antialias and faces.shape[0] > 0:
        _, _, area2, valid = face_screen_data(pix, z, faces, cfg.near)
        nb = face_neighbors(faces) if neighbors is None else neighbors
        aa = antialias(torch.cat([rgb, alpha], -1), face_ids, pix, faces, nb, area2, valid)
        rgb, alpha = aa[..., :3], aa[..., 3:]
    return RenderOutput(
        rgb=rgb,
        alpha=alpha,
        depth=to_image(frags.depth[:, None], frags, shape),
        normal=to_image(normals, frags, shape) * hard,
        aux={
            "face_ids": face_ids,
            "barycentrics": to_image(frags.bary, frags, shape),
            "albedo": to_image(albedo, frags, shape),
        },
    )


class MeshRenderer:
    """Renders a :class:`lift3d.scenes.mesh.Mesh` (``renderer(scene, cameras, background)``)."""

    def __init__(self, config: MeshRendererConfig | None = None) -> None:
        self.config = config or MeshRendererConfig()

    def __call__(self, scene: Mesh, cameras: Cameras, background=(1.0, 1.0, 1.0)) -> RenderOutput:
        textured = scene.texture is not None
        return render_mesh(
            scene.vertices,
            scene.faces,
            cameras,
            colors=None if textured else scene.vertex_colors(),
            uv=scene.uv if textured else None,
            texture=scene.texture_image() if textured else None,
            background=background,
            config=self.config,
            neighbors=scene.neighbors,
        )
