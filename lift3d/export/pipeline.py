"""End-to-end export recipes: field or splats -> cleaned, decimated, UV-textured mesh.

Decimation runs before unwrapping because xatlas time grows much faster than linearly with the face
count (measured in ``benchmarks/export.py``).
"""

from __future__ import annotations

from typing import Literal

import torch
import trimesh
from torch import Tensor

from lift3d.export.albedo_sources import albedo_from_gaussians
from lift3d.export.asset import bake_asset
from lift3d.export.mesh_cleanup import clean_mesh
from lift3d.export.mesh_extract import FieldFn, covariances_from_quats_scales, extract_mesh, mesh_from_gaussians
from lift3d.export.splats import SH_C0, SplatData
from lift3d.export.uv_bake import AlbedoFn


def _finish(mesh: trimesh.Trimesh, albedo: AlbedoFn, target_faces: int, texture_size: int,
            normal_map: bool = True) -> trimesh.Trimesh:
    return bake_asset(clean_mesh(mesh), albedo, target_faces, texture_size, normal_map)


def field_to_mesh(field: FieldFn, albedo: AlbedoFn, aabb: Tensor | tuple, resolution: int = 128,
                  kind: Literal["density", "sdf"] = "density", level: float | None = None,
                  target_faces: int = 20000, texture_size: int = 1024, normal_map: bool = True) -> trimesh.Trimesh:
    """Marching cubes -> cleanup -> decimation -> xatlas + baked texture (or vertex colours if size 0), plus a
    normal map of the undecimated surface (``normal_map``)."""
    return _finish(extract_mesh(field, aabb, resolution, kind, level), albedo, target_faces, texture_size,
                   normal_map)


def splats_to_textured_mesh(splats: SplatData, resolution: int = 128, target_faces: int = 20000,
                            texture_size: int = 1024, normal_map: bool = True) -> trimesh.Trimesh:
    """Splat -> mesh: silhouette-matched Gaussian isosurface, colours from the nearest splats' DC colour."""
    scales = splats.log_scales.float().exp()
    cov = covariances_from_quats_scales(splats.quats.float(), scales)
    opacity = torch.sigmoid(splats.opacity_logits.float())
    mesh = mesh_from_gaussians(splats.means.float(), cov, opacity, resolution)
    albedo = albedo_from_gaussians(splats.means, (SH_C0 * splats.sh[:, 0] + 0.5).clamp(0, 1), opacity)
    return _finish(mesh, albedo, target_faces, texture_size, normal_map)
