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
Every file carries vertex normals of unit length, also where a face is degenerate or a vertex unused
(:func:`lift3d.export.mesh_cleanup.unit_vertex_normals`; glTF requires unit normals); normals a mesh holds
(the UV bake's, shared by the copies of a vertex split at a seam) are kept where usable.
Writes are atomic and refuse to overwrite unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from lift3d.export._atomic import check_writable, write_bytes_atomic
from lift3d.export.mesh_cleanup import stored_normals, unit_vertex_normals
from lift3d.types import LiftError

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Rotation taking lift3d's +Z-up world to +Y-up files: ``(x, y, z) -> (x, z, -y)`` (det +1)."""
Y_UP, Z_UP = (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _rotated(mesh: trimesh.Trimesh, rotation: np.ndarray) -> trimesh.Trimesh:
    out = mesh.copy()
    transform = np.eye(4)
    transform[:3, :3] = rotation
    out.apply_transform(transform)
    return out


def with_unit_normals(mesh: trimesh.Trimesh, up: tuple[float, float, float],
                      normals: np.ndarray | None = None) -> trimesh.Trimesh:
    """``mesh`` (changed in place) with :func:`unit_vertex_normals` (from ``normals`` where usable) stored as its
    vertex normals; ``up`` is the file's up axis, the normal of last resort."""
    mesh.vertex_normals = unit_vertex_normals(mesh.vertices, mesh.faces, up, normals)
    return mesh


def to_y_up(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` rotated from lift3d's +Z-up world to +Y-up file axes."""
    return _rotated(mesh, Z_UP_TO_Y_UP)


def from_y_up(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Inverse of :func:`to_y_up`."""
    return _rotated(mesh, Z_UP_TO_Y_UP.T)


MATTE = {"name": "lift3d_matte", "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0}}
"""The glTF material of vertex-coloured meshes (``COLOR_0`` times a white, non-metallic, rough base)."""


def glb_material(material: trimesh.visual.material.Material) -> trimesh.visual.material.Material:
    """The PBR material written to glTF: PBR materials as they are; others (an OBJ's MTL) converted by trimesh
    with ``metallicFactor`` 0, since trimesh leaves it unset and glTF's default is 1 (fully metallic, dark)."""
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        return material
    pbr = material.to_pbr()
    pbr.metallicFactor, pbr.name = 0.0, material.name
    return pbr


def matte_default_material(tree: dict) -> None:
    """``export_glb`` tree post-processor: primitives without a material (trimesh writes vertex colours bare) get
    :data:`MATTE`. glTF's default material is fully metallic, which darkens vertex colours in PBR viewers, and
    Blender's importer shows no colours without a material."""
    bare = [p for mesh in tree.get("meshes", []) for p in mesh["primitives"] if "material" not in p]
    if bare:
        tree.setdefault("materials", []).append(dict(MATTE))
        for primitive in bare:
            primitive["material"] = len(tree["materials"]) - 1


_TANGENT = "_lift3d_tangent"
"""The custom vertex attribute trimesh writes, renamed to glTF's ``TANGENT`` by :func:`_glb_tree`."""


def _glb_tree(tree: dict) -> None:
    """``export_glb`` tree post-processor: :func:`matte_default_material`, and our tangents named ``TANGENT``."""
    matte_default_material(tree)
    for mesh in tree.get("meshes", []):
        for primitive in mesh["primitives"]:
            attributes = primitive.get("attributes", {})
            for key in [k for k in attributes if k.lower() == _TANGENT]:
                attributes["TANGENT"] = attributes.pop(key)


def save_glb(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Binary glTF (+Y up, metres) with its PBR material / base-colour texture, or vertex colours on a matte
    material (:func:`matte_default_material`). A normal texture comes with per-vertex ``TANGENT`` (the frame
    it was baked in, :func:`lift3d.export.normal_map.vertex_tangents`)."""
    y_up = with_unit_normals(to_y_up(mesh), Y_UP, stored_normals(mesh, Z_UP_TO_Y_UP))
    if isinstance(y_up.visual, trimesh.visual.TextureVisuals) and y_up.visual.material is not None:
        y_up.visual.material = glb_material(y_up.visual.material)
        if getattr(y_up.visual.material, "normalTexture", None) is not None and y_up.visual.uv is not None:
            from lift3d.export.normal_map import vertex_tangents

            # the frame the normal map was baked in, so viewers need not regenerate (MikkTSpace) tangents
            y_up.vertex_attributes[_TANGENT] = vertex_tangents(y_up.vertices, y_up.faces, y_up.visual.uv,
                                                               np.asarray(y_up.vertex_normals)).astype(np.float32)
    data = trimesh.exchange.gltf.export_glb(trimesh.Scene(y_up), include_normals=True, unitize_normals=False,
                                            tree_postprocessor=_glb_tree)
    return write_bytes_atomic(path, data, overwrite)


def obj_material(material: trimesh.visual.material.Material, name: str) -> trimesh.visual.material.Material:
    """The MTL material of a textured mesh, named ``name`` (its texture becomes ``<name>.png``).

    A PBR material (ours: base-colour texture, metallic 0, roughness 1) becomes ``Kd`` = its base-colour
    factor (white when unset) times ``map_Kd``, ``Ka 0``, ``Ks 0``: trimesh's default ``Kd``/``Ks`` of 0.4
    darken the texture to 40 % in viewers that multiply them as the MTL spec says (three.js) and add a
    highlight the GLB does not have. Other materials are copied as they are.
    """
    if not isinstance(material, trimesh.visual.material.PBRMaterial):
        out = material.copy()
        out.name = name
        return out
    factor = material.baseColorFactor if material.baseColorFactor is not None else [255, 255, 255, 255]
    return trimesh.visual.material.SimpleMaterial(image=material.baseColorTexture, diffuse=factor,
                                                  ambient=[0, 0, 0, 255], specular=[0, 0, 0, 255], glossiness=1.0,
                                                  name=name)


def add_obj_normal_map(files: dict[str, bytes], mtl_name: str, png_name: str, image) -> dict[str, bytes]:
    """``files`` (trimesh's OBJ side files) plus the tangent-space normal map ``image`` as ``png_name``, named in
    the MTL ``mtl_name`` by ``map_Bump -bm 1`` (Blender, three.js) and ``norm`` (the PBR MTL extension)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    out = dict(files)
    text = out[mtl_name].decode().rstrip("\n")
    out[mtl_name] = f"{text}\nmap_Bump -bm 1.000000 {png_name}\nnorm {png_name}\n".encode()
    out[png_name] = buffer.getvalue()
    return out


def save_obj(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Wavefront OBJ (+Y up) plus, for textured meshes, ``<stem>.mtl`` and its PNG texture beside it.

    A material with a normal texture (:mod:`lift3d.export.normal_map`) also writes ``<stem>_normal.png``
    (:func:`add_obj_normal_map`).

    Returns:
        Every written path, the OBJ first.
    """
    path = Path(path)
    textured = isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv is not None
    y_up = with_unit_normals(to_y_up(mesh), Y_UP, stored_normals(mesh, Z_UP_TO_Y_UP))
    if textured:  # the texture file is named after the material: make it <stem>.png, not a shared name
        y_up.visual.material = obj_material(y_up.visual.material, path.stem)
    text, extra = trimesh.exchange.obj.export_obj(
        y_up, include_normals=True, include_color=not textured, include_texture=textured,
        return_texture=True, mtl_name=f"{path.stem}.mtl")
    normal = getattr(mesh.visual.material, "normalTexture", None) if textured else None
    if normal is not None:
        extra = add_obj_normal_map(extra, f"{path.stem}.mtl", f"{path.stem}_normal.png", normal)
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
    with_unit_normals(out, Z_UP, stored_normals(mesh))
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


def plain_vertex_colours(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` (changed in place) with vertex colours as its visual when it has them and no UVs.

    trimesh reads a glTF primitive with a material and ``COLOR_0`` (our vertex-coloured GLBs, on
    :data:`MATTE`) as a texture visual without UVs, the colours hidden in ``vertex_attributes``.
    """
    visual = getattr(mesh, "visual", None)
    if isinstance(visual, trimesh.visual.TextureVisuals) and visual.uv is None and "color" in visual.vertex_attributes:
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.asarray(visual.vertex_attributes["color"]))
    return mesh


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
        for geometry in loaded.geometry.values():
            plain_vertex_colours(geometry)
        loaded = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    if isinstance(loaded, trimesh.Trimesh):
        plain_vertex_colours(loaded)
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise LiftError(f"{path} holds no triangle mesh (no faces); pass a mesh with faces, or 3DGS splats "
                        "(a .splat, or a .ply with x y z f_dc_0..2 opacity scale_0..2 rot_0..3).")
    return loaded if suffix == ".ply" else from_y_up(loaded)


__all__ = ["MATTE", "Y_UP", "Z_UP", "Z_UP_TO_Y_UP", "add_obj_normal_map", "from_y_up", "glb_material", "load_mesh",
           "matte_default_material", "obj_material", "plain_vertex_colours", "save_glb", "save_mesh", "save_obj",
           "save_ply", "stored_normals", "to_y_up", "with_unit_normals"]
