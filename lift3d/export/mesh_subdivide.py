"""Midpoint subdivision up to a face budget: the surface stays exactly where it was, with more vertices to move.

A geometry edit moves a mesh's vertices; a 12-triangle cube has 8 of them and cannot become a sphere. Each round
splits every triangle into four at its edge midpoints (``trimesh.remesh.subdivide``; vertex colours and any other
per-vertex attribute are averaged onto the new vertices), so the surface, its silhouettes and its colours are
unchanged while the vertex count grows about fourfold.
"""

from __future__ import annotations

import numpy as np
import trimesh
import trimesh.remesh


def subdivide_to_faces(mesh: trimesh.Trimesh, min_faces: int, max_faces: int) -> trimesh.Trimesh:
    """``mesh`` midpoint-subdivided until it has at least ``min_faces`` faces, without passing ``max_faces``
    (returned as it is when it already has ``min_faces``, or when one round would pass ``max_faces``)."""
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    colors = mesh.visual.vertex_colors if mesh.visual.kind == "vertex" else None
    changed = False
    while len(faces) < min_faces and 4 * len(faces) <= max_faces:
        attrs = {} if colors is None else {"colors": np.asarray(colors, dtype=np.float64)}
        vertices, faces, attrs = trimesh.remesh.subdivide(vertices, faces, vertex_attributes=attrs)
        colors = None if colors is None else attrs["colors"]
        changed = True
    if not changed:
        return mesh
    out = trimesh.Trimesh(vertices, faces, process=False)
    if colors is not None:
        out.visual.vertex_colors = np.clip(np.rint(colors), 0, 255).astype(np.uint8)
    return out
