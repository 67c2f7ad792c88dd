"""Mesh files for DCC tools: GLB (PBR), OBJ + MTL + PNG, PLY with vertex colours.

Axis conventions (lift3d's world is right-handed, +Z up, metres; see docs/export.md):

====== ===================== ===================================================================
format file axes              why
====== ===================== ===================================================================
GLB    +Y up (glTF)          glTF 2.0 mandates +Y up, metres. World ``(x, y, z) -> (x, z, -y)``.
OBJ    +Y up                 the de-facto OBJ convention; Blender's OBJ importer maps file
                             ``(x, y, z) -> (x, -z, y)``, so the model lands upright.
PLY    +Z up (unchanged)     Blender's and MeshLab's PLY importers keep file axes (Z up).
====== ===================== ===================================================================

With these choices Blender shows every export with lift3d's world coordinates exactly.
Writes are atomic and refuse to overwrite unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from lift3d.export._atomic import check_writable, write_bytes_atomic
from lift3d.types import LiftError

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Rotation taking lift3d's +Z-up world to +Y-up files: ``(x, y, z) -> (x, z, -y)`` (det +1)."""


def _rotated(mesh: trimesh.Trimesh, rotation: np.ndarray) -> trimesh.Trimesh:
    out = mesh.copy()
    transform = np.eye(4)
    transform[:3, :3] = rotation
    out.apply_transform(transform)
    return out


def to_y_up(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` rotated from lift3d's +Z-up world to +Y-up file axes."""
    return _rotated(mesh, Z_UP_TO_Y_UP)


def from_y_up(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Inverse of :func:`to_y_up`."""
    return _rotated(mesh, Z_UP_TO_Y_UP.T)


def save_glb(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Binary glTF (+Y up, metres) with its PBR material / base-colour texture or vertex colours."""
    data = trimesh.exchange.gltf.export_glb(trimesh.Scene(to_y_up(mesh)), include_normals=True)
    return write_bytes_atomic(path, data, overwrite)


def save_obj(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Wavefront OBJ (+Y up) plus, for textured meshes, ``<stem>.mtl`` and its PNG texture beside it.

    Returns:
        Every written path, the OBJ first.
    """
    path = Path(path)
    textured = isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv is not None
    y_up = to_y_up(mesh)
    if textured:  # the texture file is named after the material: make it <stem>.png, not a shared name
        y_up.visual.material = y_up.visual.material.copy()
        y_up.visual.material.name = path.stem
    text, extra = trimesh.exchange.obj.export_obj(
        y_up, include_normals=True, include_color=not textured, include_texture=textured,
        return_texture=True, mtl_name=f"{path.stem}.mtl")
    targets = [path] + [path.parent / name for name in extra]
    for target in targets:
        check_writable(target, overwrite)
    written = [write_bytes_atomic(path.parent / name, data, overwrite) for name, data in extra.items()]
    return [write_bytes_atomic(path, text.encode(), overwrite), *written]


def save_ply(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Binary little-endian PLY in lift3d's +Z-up axes with RGBA vertex colours (textures are sampled)."""
    out = mesh.copy()
    if isinstance(out.visual, trimesh.visual.TextureVisuals):
        out.visual = out.visual.to_color()  # samples the texture at each vertex
    data = trimesh.exchange.ply.export_ply(out, encoding="binary", vertex_normal=True)
    return write_bytes_atomic(path, data, overwrite)


def save_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Dispatch on the suffix: ``.glb``, ``.obj`` or ``.ply``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".glb":
        return [save_glb(mesh, path, overwrite)]
    if suffix == ".obj":
        return save_obj(mesh, path, overwrite)
    if suffix == ".ply":
        return [save_ply(mesh, path, overwrite)]
    raise LiftError(f"unknown mesh format {suffix!r} for {path}; use .glb, .obj or .ply.")


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Read a mesh written by :func:`save_mesh` (or any GLB/OBJ/PLY) back into lift3d's +Z-up world."""
    path = Path(path)
    if not path.is_file():
        raise LiftError(f"mesh file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf", ".obj", ".ply"):
        raise LiftError(f"unknown mesh format {suffix!r} for {path}; use .glb, .obj or .ply.")
    try:
        loaded = trimesh.load(path, process=False, maintain_order=True)
    except Exception as e:  # trimesh raises KeyError/ValueError/... on malformed files
        raise LiftError(f"cannot read {path} as a mesh ({type(e).__name__}: {e}).") from e
    if isinstance(loaded, trimesh.Scene):
        if len(loaded.geometry) == 0:
            raise LiftError(f"{path} holds no mesh.")
        loaded = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise LiftError(f"{path} holds no triangle mesh.")
    return loaded if suffix == ".ply" else from_y_up(loaded)


__all__ = ["Z_UP_TO_Y_UP", "from_y_up", "load_mesh", "save_glb", "save_mesh", "save_obj",
           "save_ply", "to_y_up"]
