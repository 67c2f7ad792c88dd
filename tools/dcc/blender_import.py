"""Import mesh files, each into a clean Blender scene, headlessly; print one JSON line describing each.

Usage (PATH must not lead to a venv's python3.11, see docs/export.md):
    blender -b --factory-startup --python-exit-code 1 --python tools/dcc/blender_import.py -- FILE [FILE ...]

Prints ``DCC_RESULT {json}`` per file, in order, with the file, vertex/face counts (summed over imported
meshes), the world-space bounding box, whether UVs and an image texture arrived, whether an image texture
feeds a material's base colour (``Principled BSDF`` input ``Base Color``, through any nodes between), whether a
tangent-space ``Normal Map`` node fed by an image texture feeds its ``Normal`` input (``normal_map``), vertex
colours, the material count and the first Principled BSDF's metallic / roughness / specular; a file that fails prints ``DCC_RESULT`` with ``error``. Exits 1 if any
file failed. One Blender start for many files: starting Blender costs seconds, importing a small file less.
"""

import json
import sys

import numpy

numpy.bool = bool  # Blender 3.4's glTF importer uses np.bool, removed in numpy 1.24 (fixed in Blender 3.5).

import bpy  # noqa: E402


def import_file(path: str) -> None:
    """Replace the scene by an empty one and import ``path`` by its suffix."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix in ("glb", "gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif suffix == "obj":
        bpy.ops.wm.obj_import(filepath=path)
    elif suffix == "ply":
        bpy.ops.import_mesh.ply(filepath=path)
    else:
        raise ValueError(f"unsupported file {path}")


def image_feeds_base_color(material) -> bool:
    """Whether a loaded image texture node is upstream of a Principled BSDF's ``Base Color`` input."""
    if material is None or not material.use_nodes:
        return False
    for node in material.node_tree.nodes:
        if node.type != "BSDF_PRINCIPLED" or not node.inputs["Base Color"].is_linked:
            continue
        todo, seen = [link.from_node for link in node.inputs["Base Color"].links], set()
        while todo:
            up = todo.pop()
            if up.name in seen:
                continue
            seen.add(up.name)
            if up.type == "TEX_IMAGE" and up.image is not None and up.image.size[0] > 0:
                return True
            todo.extend(link.from_node for socket in up.inputs for link in socket.links)
    return False


def upstream(socket) -> list:
    """Every node upstream of ``socket`` (through any nodes between)."""
    todo, seen, out = [link.from_node for link in socket.links], set(), []
    while todo:
        up = todo.pop()
        if up.name in seen:
            continue
        seen.add(up.name)
        out.append(up)
        todo.extend(link.from_node for s in up.inputs for link in s.links)
    return out


def normal_map_feeds_normal(material) -> bool:
    """Whether a ``Normal Map`` node (tangent space) fed by a loaded image texture is upstream of a Principled
    BSDF's ``Normal`` input."""
    if material is None or not material.use_nodes:
        return False
    for node in material.node_tree.nodes:
        if node.type != "BSDF_PRINCIPLED" or not node.inputs["Normal"].is_linked:
            continue
        for up in upstream(node.inputs["Normal"]):
            if up.type == "NORMAL_MAP" and up.space == "TANGENT" and any(
                    n.type == "TEX_IMAGE" and n.image is not None and n.image.size[0] > 0
                    for n in upstream(up.inputs["Color"])):
                return True
    return False


def principled_inputs(materials) -> dict:
    """Metallic, roughness and specular of the first material's Principled BSDF (unlinked values)."""
    for material in materials:
        if material is None or not material.use_nodes:
            continue
        for node in material.node_tree.nodes:
            if node.type == "BSDF_PRINCIPLED":
                return {name.lower(): float(node.inputs[name].default_value)
                        for name in ("Metallic", "Roughness", "Specular")}
    return {}


def describe(path: str) -> dict:
    """Counts, world bounds and appearance of what importing ``path`` put in the scene."""
    import_file(path)
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if not meshes:
        return {"file": path, "error": "no mesh imported"}
    lo, hi = numpy.full(3, numpy.inf), numpy.full(3, -numpy.inf)
    verts = faces = 0
    has_uv = has_image = base_color_image = has_colors = normal_map = False
    materials = set()
    for obj in meshes:
        mesh = obj.data
        verts += len(mesh.vertices)
        faces += sum(len(p.vertices) - 2 for p in mesh.polygons)  # triangles
        co = numpy.empty(3 * len(mesh.vertices))
        mesh.vertices.foreach_get("co", co)
        world = numpy.array(obj.matrix_world)
        points = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
        if len(points):
            lo, hi = numpy.minimum(lo, points.min(0)), numpy.maximum(hi, points.max(0))
        has_uv |= len(mesh.uv_layers) > 0
        has_colors |= len(getattr(mesh, "color_attributes", [])) > 0 or len(mesh.vertex_colors) > 0
        for mat in mesh.materials:
            if mat is None:
                continue
            materials.add(mat.name)
            if mat.use_nodes:
                has_image |= any(n.type == "TEX_IMAGE" and n.image is not None and n.image.size[0] > 0
                                 for n in mat.node_tree.nodes)
            base_color_image |= image_feeds_base_color(mat)
            normal_map |= normal_map_feeds_normal(mat)
    principled = principled_inputs([m for obj in meshes for m in obj.data.materials])
    return {"file": path, "objects": len(meshes), "vertices": verts, "triangles": faces, "bbox_min": lo.tolist(),
            "bbox_max": hi.tolist(), "has_uv": has_uv, "has_image": has_image,
            "base_color_image": base_color_image, "normal_map": normal_map, "has_colors": has_colors, "materials": len(materials),
            "principled": principled}


def main() -> int:
    failed = 0
    for path in sys.argv[sys.argv.index("--") + 1 :]:
        try:
            result = describe(path)
        except Exception as exc:  # report it and go on with the next file
            result = {"file": path, "error": f"{type(exc).__name__}: {exc}"}
        failed += "error" in result
        print("DCC_RESULT " + json.dumps(result), flush=True)
    return 1 if failed else 0


try:
    sys.exit(main())
except Exception as exc:  # --python-exit-code only covers some failures; be explicit
    print(f"DCC_ERROR {type(exc).__name__}: {exc}")
    sys.exit(1)
