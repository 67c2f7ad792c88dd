"""Textured meshes as USDZ for Apple AR Quick Look, through Pixar's ``usd-core`` wheel (``pip install lift3d[usd]``).

Recipe (OpenUSD ``UsdUtils`` and ``UsdPreviewSurface`` docs; ../shared/reference/wave2.md section 8): a ``.usdc``
layer with ``upAxis`` Y, ``metersPerUnit`` 1 and a root ``Xform`` as default prim; a ``Mesh`` with ``points``,
``faceVertexCounts``, ``faceVertexIndices``, ``extent``, vertex ``normals`` and ``primvars:st`` (texCoord2f, V
from the bottom as in glTF-converted UVs flipped back); a ``UsdPreviewSurface`` (metallic 0, roughness 1) fed by a
``UsdUVTexture`` of the base-colour PNG (sRGB) reading ``st`` through ``UsdPrimvarReader_float2``, bound with
``MaterialBindingAPI``. ``UsdUtils.CreateNewARKitUsdzPackage`` packs layer and texture (uncompressed, 64-byte
aligned). A vertex-coloured mesh gets ``primvars:displayColor`` instead of a texture. Axes as GLB:
world ``(x, y, z) -> (x, z, -y)``. ``tests/test_export_usdz.py`` runs ``UsdUtils.ComplianceChecker(arkit=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

from lift3d.export._atomic import write_bytes_atomic
from lift3d.export.formats import Y_UP, Z_UP_TO_Y_UP, stored_normals, to_y_up, with_unit_normals
from lift3d.types import LiftError


def _require_usd():
    try:
        from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt
    except ImportError:
        raise LiftError("USDZ export needs usd-core: pip install 'lift3d[usd]' (or pip install usd-core).") from None
    return Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt


def _texture(mesh: trimesh.Trimesh):
    visual = mesh.visual
    if not isinstance(visual, trimesh.visual.TextureVisuals) or visual.uv is None or visual.material is None:
        return None
    material = visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return image


def write_usdc(mesh: trimesh.Trimesh, folder: Path, name: str = "model") -> Path:
    """``folder/name.usdc`` (+ ``name_basecolor.png``) of ``mesh`` in lift3d's world axes; returns the layer path."""
    Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt = _require_usd()
    y_up = with_unit_normals(to_y_up(mesh), Y_UP, stored_normals(mesh, Z_UP_TO_Y_UP))
    layer = folder / f"{name}.usdc"
    stage = Usd.Stage.CreateNew(str(layer))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/Root")
    stage.SetDefaultPrim(root.GetPrim())
    geom = UsdGeom.Mesh.Define(stage, "/Root/Mesh")
    v = np.asarray(y_up.vertices, dtype=np.float32)
    geom.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(v))
    geom.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(y_up.faces), 3, np.int32)))
    geom.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.asarray(y_up.faces, np.int32).reshape(-1)))
    geom.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, v.min(0))), Gf.Vec3f(*map(float, v.max(0)))]))
    geom.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(np.asarray(y_up.vertex_normals, np.float32)))
    geom.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    geom.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    material = UsdShade.Material.Define(stage, "/Root/Material")
    shader = UsdShade.Shader.Define(stage, "/Root/Material/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(1.0)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    image = _texture(y_up)
    if image is not None:
        texture_name = f"{name}_basecolor.png"
        image.convert("RGB").save(folder / texture_name)
        st = UsdGeom.PrimvarsAPI(geom).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex)
        st.Set(Vt.Vec2fArray.FromNumpy(np.asarray(y_up.visual.uv, np.float32)))
        reader = UsdShade.Shader.Define(stage, "/Root/Material/StReader")
        reader.CreateIdAttr("UsdPrimvarReader_float2")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
        tex = UsdShade.Shader.Define(stage, "/Root/Material/BaseColor")
        tex.CreateIdAttr("UsdUVTexture")
        tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(texture_name)
        tex.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
        tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
        tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(tex.ConnectableAPI(), "rgb")
    else:
        visual = y_up.visual.to_color() if isinstance(y_up.visual, trimesh.visual.TextureVisuals) else y_up.visual
        colours = np.asarray(visual.vertex_colors, np.float32)[:, :3] / 255.0 if visual.kind is not None \
            else np.full((len(v), 3), 0.8, np.float32)
        UsdGeom.PrimvarsAPI(geom).CreatePrimvar("displayColor", Sdf.ValueTypeNames.Color3fArray,
                                                UsdGeom.Tokens.vertex).Set(Vt.Vec3fArray.FromNumpy(colours))
        reader = UsdShade.Shader.Define(stage, "/Root/Material/ColorReader")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
        reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(reader.ConnectableAPI(), "result")
    UsdShade.MaterialBindingAPI.Apply(geom.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    return layer


def save_usdz(mesh: trimesh.Trimesh, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``mesh`` as an ARKit USDZ package (module docstring); atomic, refuses to overwrite unless asked."""
    _, Sdf, _, _, _, UsdUtils, _ = _require_usd()
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="lift3d-usdz-") as tmp:
        folder = Path(tmp)
        layer = write_usdc(mesh, folder, "model")
        package = folder / "model.usdz"
        cwd = os.getcwd()
        os.chdir(folder)  # the packager resolves the texture relative to the layer; keep package paths relative
        try:
            ok = UsdUtils.CreateNewARKitUsdzPackage(Sdf.AssetPath(layer.name), package.name)
        finally:
            os.chdir(cwd)
        if not ok or not package.is_file():
            raise LiftError(f"usd-core could not package {path.name} as USDZ.")
        return write_bytes_atomic(path, package.read_bytes(), overwrite)
