"""Import a mesh file into a clean Blender scene headlessly and print one JSON line describing it.

Usage (PATH must not lead to a venv's python3.11, see docs/export.md):
    blender -b --factory-startup --python-exit-code 1 --python tools/dcc/blender_import.py -- FILE

Prints ``DCC_RESULT {json}`` with vertex/face counts (summed over imported meshes), the world-space
bounding box, whether UVs and an image texture arrived, and the material count. Exits 1 on failure.
"""

import json
import sys

import numpy

numpy.bool = bool  # Blender 3.4's glTF importer uses np.bool, removed in numpy 1.24 (fixed in Blender 3.5).

import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402


def main() -> None:
    path = sys.argv[sys.argv.index("--") + 1]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix in ("glb", "gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif suffix == "obj":
        bpy.ops.wm.obj_import(filepath=path)
    elif suffix == "ply":
        bpy.ops.import_mesh.ply(filepath=path)
    else:
        raise SystemExit(f"unsupported file {path}")
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if not meshes:
        print("DCC_RESULT " + json.dumps({"error": "no mesh imported"}))
        sys.exit(1)
    lo, hi = [float("inf")] * 3, [float("-inf")] * 3
    verts = faces = 0
    has_uv = has_image = has_colors = False
    materials = set()
    for obj in meshes:
        mesh = obj.data
        verts += len(mesh.vertices)
        faces += sum(len(p.vertices) - 2 for p in mesh.polygons)  # triangles
        for v in mesh.vertices:
            w = obj.matrix_world @ Vector(v.co)
            lo = [min(a, b) for a, b in zip(lo, w)]
            hi = [max(a, b) for a, b in zip(hi, w)]
        has_uv |= len(mesh.uv_layers) > 0
        has_colors |= len(getattr(mesh, "color_attributes", [])) > 0 or len(mesh.vertex_colors) > 0
        for mat in mesh.materials:
            if mat is None:
                continue
            materials.add(mat.name)
            if mat.use_nodes:
                has_image |= any(n.type == "TEX_IMAGE" and n.image is not None and n.image.size[0] > 0
                                 for n in mat.node_tree.nodes)
    print("DCC_RESULT " + json.dumps({
        "objects": len(meshes), "vertices": verts, "triangles": faces, "bbox_min": lo, "bbox_max": hi,
        "has_uv": has_uv, "has_image": has_image, "has_colors": has_colors, "materials": len(materials),
    }))


try:
    main()
except Exception as exc:  # --python-exit-code only covers some failures; be explicit
    print(f"DCC_ERROR {type(exc).__name__}: {exc}")
    sys.exit(1)
