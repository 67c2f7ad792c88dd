"""Export to DCC tools: meshes (GLB / OBJ+MTL+PNG / PLY), 3DGS splats (.ply / .splat), turntable videos.

>>> from lift3d.export import field_to_mesh, save_mesh
>>> mesh = field_to_mesh(obj.sdf, obj.albedo, aabb=(-1, -1, -1, 1, 1, 1), kind="sdf")  # doctest: +SKIP
>>> save_mesh(mesh, "asset.glb")  # +Y up, metres, PBR base-colour texture  # doctest: +SKIP

Axis conventions of every format are in :mod:`lift3d.export.formats`, :mod:`lift3d.export.splats`
and docs/export.md.
"""

from lift3d.export.albedo_sources import albedo_from_gaussians, albedo_from_vertex_colors
from lift3d.export.formats import Z_UP_TO_Y_UP, load_mesh, save_glb, save_mesh, save_obj, save_ply
from lift3d.export.mesh_cleanup import clean_mesh, decimate, remove_floaters
from lift3d.export.mesh_extract import (
    covariances_from_quats_scales,
    extract_mesh,
    gaussian_density_grid,
    mesh_from_gaussians,
    opacity_matched_level,
)
from lift3d.export.pipeline import field_to_mesh, splats_to_textured_mesh
from lift3d.export.splats import SplatData, load_3dgs_ply, load_splat, save_3dgs_ply, save_splat
from lift3d.export.uv_bake import bake_texture, rasterize_uv, textured_mesh, unwrap_uv
from lift3d.export.video import save_video

__all__ = [
    "Z_UP_TO_Y_UP",
    "SplatData",
    "albedo_from_gaussians",
    "albedo_from_vertex_colors",
    "bake_texture",
    "clean_mesh",
    "covariances_from_quats_scales",
    "decimate",
    "extract_mesh",
    "field_to_mesh",
    "gaussian_density_grid",
    "load_3dgs_ply",
    "load_mesh",
    "load_splat",
    "mesh_from_gaussians",
    "opacity_matched_level",
    "rasterize_uv",
    "remove_floaters",
    "save_3dgs_ply",
    "save_glb",
    "save_mesh",
    "save_obj",
    "save_ply",
    "save_splat",
    "save_video",
    "splats_to_textured_mesh",
    "textured_mesh",
    "unwrap_uv",
]
