"""Make mesh files that lift3d did not write, with Blender's own exporters (Blender 3.4 API), headlessly.

Usage (PATH must not lead to a venv's python3.11, see docs/export.md):
    blender -b --factory-startup --python-exit-code 1 --python tools/dcc/blender_make_foreign.py -- OUTDIR

Writes into OUTDIR a Suzanne (moved off the origin by its object transform, so it is asymmetric in every
axis) and a UV sphere, each with its own image texture (``<name>.png``, feeding the Principled BSDF's base
colour through its UVs), as ``<name>.glb`` (``export_scene.gltf``) and ``<name>.obj`` + ``.mtl``
(``export_scene.obj``). Prints ``DCC_FOREIGN {json}``: per model, its triangle count, texture size and
Blender world-space bounds (Blender is +Z up, like lift3d).
"""

import json
import os
import sys

import numpy

numpy.bool = bool  # Blender 3.4's glTF exporter uses np.bool, removed in numpy 1.24 (fixed in Blender 3.5).

import bpy  # noqa: E402

MODELS = {"suzanne": (64, 32), "sphere": (48, 40)}  # name -> texture (width, height), both unequal on purpose


def textured(obj, name: str, size: tuple, outdir: str) -> None:
    """Give ``obj`` a material whose base colour is a new, saved PNG texture ``<name>.png``."""
    width, height = size
    image = bpy.data.images.new(name, width=width, height=height)
    x, y = numpy.meshgrid(numpy.linspace(0, 1, width), numpy.linspace(0, 1, height))
    pixels = numpy.stack([x, y, 0.5 * numpy.ones_like(x), numpy.ones_like(x)], -1)
    image.pixels.foreach_set(pixels.astype(numpy.float32).ravel())
    image.filepath_raw = os.path.join(outdir, f"{name}.png")
    image.file_format = "PNG"
    image.save()
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes = material.node_tree.nodes
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    material.node_tree.links.new(tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    obj.data.materials.append(material)


def world_bounds(obj) -> tuple:
    world = numpy.array(obj.matrix_world)
    co = numpy.empty(3 * len(obj.data.vertices))
    obj.data.vertices.foreach_get("co", co)
    points = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
    return points.min(0).tolist(), points.max(0).tolist()


def export(obj, path_stem: str) -> None:
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.export_scene.gltf(filepath=path_stem + ".glb", export_format="GLB", use_selection=True)
    bpy.ops.export_scene.obj(filepath=path_stem + ".obj", use_selection=True, use_materials=True,
                             use_uvs=True, use_normals=True, path_mode="STRIP")


def main() -> int:
    outdir = sys.argv[sys.argv.index("--") + 1]
    os.makedirs(outdir, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = {}
    for name, size in MODELS.items():
        if name == "suzanne":
            bpy.ops.mesh.primitive_monkey_add(size=2.0, calc_uvs=True, location=(0.5, 1.0, 2.0))
        else:
            bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, calc_uvs=True, location=(-1.0, 0.0, 0.3))
        obj = bpy.context.active_object
        obj.name = name
        textured(obj, name, size, outdir)
        lo, hi = world_bounds(obj)
        result[name] = {"triangles": sum(len(p.vertices) - 2 for p in obj.data.polygons), "texture": list(size),
                        "bbox_min": lo, "bbox_max": hi}
        export(obj, os.path.join(outdir, name))
    print("DCC_FOREIGN " + json.dumps(result), flush=True)
    return 0


try:
    sys.exit(main())
except Exception as exc:  # --python-exit-code only covers some failures; be explicit
    print(f"DCC_ERROR {type(exc).__name__}: {exc}")
    sys.exit(1)
