"""The final asset of a run: a decimated, UV-unwrapped mesh with a baked base-colour texture, written as
GLB (+Y up), OBJ + MTL + PNG (+Y up) and PLY (+Z up, vertex colours) with :mod:`lift3d.export.formats`.

``lift3d generate`` calls :func:`write_asset` at the end of a run and ``lift3d export RUN_DIR`` calls it
on any saved checkpoint, so the two always produce the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh

from lift3d.export.albedo_sources import albedo_from_vertex_colors
from lift3d.export.formats import save_glb, save_obj, save_ply
from lift3d.export.mesh_cleanup import decimate, drop_degenerate
from lift3d.export.uv_bake import AlbedoFn, textured_mesh


@dataclass(frozen=True)
class AssetOptions:
    """How the final mesh of a run is made."""

    target_faces: int = 10000
    """Face budget (quadric decimation before UV unwrapping; xatlas takes ~5 s at 10k faces, ~25 s at 20k)."""
    texture_size: int = 512
    """Baked base-colour texture size in pixels; 0 keeps vertex colours (no UV unwrap, fastest)."""


def is_textured(mesh: trimesh.Trimesh) -> bool:
    """Whether ``mesh`` carries UVs and a texture image already."""
    return isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv is not None


def bake_asset(mesh: trimesh.Trimesh, albedo: AlbedoFn | None = None, target_faces: int = 20000,
               texture_size: int = 1024, normal_map: bool = True) -> trimesh.Trimesh:
    """Decimate ``mesh`` to ``target_faces`` and bake ``albedo`` into a texture of ``texture_size``.

    With ``normal_map`` (default) and a texture, a mesh that decimation made coarser also gets a tangent-space
    normal map of the full-resolution ``mesh`` (:func:`lift3d.export.normal_map.add_normal_map`) as its PBR
    material's ``normalTexture``, of the same size as the base-colour texture.

    ``albedo`` defaults to the mesh's own vertex colours (closest-point interpolation, sampled on the
    undecimated mesh, so decimation does not blur colours; when nothing is decimated, interpolated directly on
    the faces, :func:`~lift3d.export.uv_bake.textured_mesh`). A mesh that is textured already is returned
    as is; ``texture_size=0`` keeps vertex colours instead of baking. Zero-area and repeated faces (quadric
    decimation leaves back-to-back pairs, which a refined mesh keeps) and unused vertices are dropped before
    unwrapping (:func:`~lift3d.export.mesh_cleanup.drop_degenerate`): their vertices have no normal.

    Raises:
        ValueError: every face of ``mesh`` has zero area.
    """
    if is_textured(mesh) or len(mesh.faces) == 0:
        return mesh
    own_colors = albedo is None and len(mesh.faces) <= target_faces and mesh.visual.kind == "vertex"
    if albedo is None and not own_colors:
        albedo = albedo_from_vertex_colors(mesh)
    low = drop_degenerate(decimate(mesh, target_faces))
    if len(low.faces) == 0:
        raise ValueError("every face of the mesh has zero area")
    if texture_size > 0:
        out = textured_mesh(low, albedo, texture_size)
        if normal_map and len(low.faces) < len(mesh.faces):
            from lift3d.export.normal_map import add_normal_map

            add_normal_map(out, mesh, texture_size)
        return out
    if own_colors:
        return low
    with torch.no_grad():
        rgb = albedo(torch.as_tensor(np.asarray(low.vertices), dtype=torch.float32)).clamp(0, 1).cpu().numpy()
    rgba = np.concatenate([(rgb * 255 + 0.5).astype(np.uint8), np.full((len(rgb), 1), 255, np.uint8)], 1)
    return trimesh.Trimesh(low.vertices, low.faces, vertex_colors=rgba, process=False)


def write_asset(mesh: trimesh.Trimesh, directory: Path, stem: str = "mesh", overwrite: bool = True) -> list[Path]:
    """``<stem>.glb``, ``<stem>.obj`` (+ ``.mtl``, ``.png``) and ``<stem>.ply`` of ``mesh`` (lift3d's +Z-up world)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [save_glb(mesh, directory / f"{stem}.glb", overwrite), *save_obj(mesh, directory / f"{stem}.obj", overwrite),
            save_ply(mesh, directory / f"{stem}.ply", overwrite)]
