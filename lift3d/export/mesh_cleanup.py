"""Mesh cleanup after extraction: floaters, degenerate faces, decimation, normals.

Vertex normals for files (:func:`unit_vertex_normals`) are finite and of unit length for every vertex: glTF
requires it (Khronos glTF-Validator ``ACCESSOR_VECTOR3_NON_UNIT``), and trimesh's own normals are zero for
vertices whose faces cancel (back-to-back duplicate faces, which quadric decimation leaves), that only degenerate
faces use (xatlas gives each degenerate face its own chart, hence its own vertices) or that no face uses.

Decimation uses quadric error metrics ("Surface Simplification Using Quadric Error Metrics", Garland
and Heckbert, SIGGRAPH 1997) through trimesh's ``simplify_quadric_decimation``, which needs the
``fast_simplification`` package. Without it we fall back to vertex clustering ("Multi-resolution 3D
approximations for rendering complex scenes", Rossignac and Borrel, 1993): vertices are snapped to a
cubic grid whose cell size is bisected to meet the face budget, each cell keeps the mean of its
vertices, and collapsed faces are dropped. Clustering is cruder (it does not preserve sharp features)
but needs nothing beyond numpy.
"""

from __future__ import annotations

import numpy as np
import trimesh


def remove_floaters(mesh: trimesh.Trimesh, min_fraction: float = 0.02) -> trimesh.Trimesh:
    """Keep connected components with at least ``min_fraction`` of the largest component's faces.

    Small disconnected pieces ("floaters") are the usual debris of density fields; the main body
    and any genuinely separate parts of comparable size are kept.
    """
    if len(mesh.faces) == 0:
        raise ValueError("mesh has no faces; nothing to clean (was the iso-level outside the field?)")
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh
    biggest = max(len(p.faces) for p in parts)
    keep = [p for p in parts if len(p.faces) >= min_fraction * biggest]
    return trimesh.util.concatenate(keep)


def clean_mesh(mesh: trimesh.Trimesh, min_fraction: float = 0.02) -> trimesh.Trimesh:
    """Merge duplicate vertices, drop degenerate/duplicate faces and floaters, fix winding and normals."""
    mesh = mesh.copy()
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    mesh = remove_floaters(mesh, min_fraction)
    trimesh.repair.fix_normals(mesh)
    return mesh


def drop_degenerate(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` without zero-area faces, repeated faces and unused vertices (``mesh`` itself if clean).

    A repeated face uses the same three vertices as an earlier one, in either winding: quadric decimation
    leaves such back-to-back pairs (zero-thickness sheets), whose normals cancel at their vertices. Unlike
    :func:`clean_mesh` nothing is merged, re-wound or removed as a floater, so a UV layout or a refined mesh
    keeps its topology; visuals (UVs, vertex colours) follow the kept vertices.
    """
    unique = np.zeros(len(mesh.faces), bool)
    unique[mesh.unique_faces()] = True  # a mask (trimesh >= 4) or indices: the first of each vertex set
    keep = mesh.nondegenerate_faces() & unique
    used = np.zeros(len(mesh.vertices), bool)
    used[np.asarray(mesh.faces)[keep].reshape(-1)] = True
    if keep.all() and used.all():
        return mesh
    out = mesh.copy()
    out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out


def unit_vertex_normals(vertices: np.ndarray, faces: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0),
                        normals: np.ndarray | None = None, passes: int = 8) -> np.ndarray:
    """``[V, 3]`` float32 unit vertex normals, finite for every vertex (used by a face or not).

    Each normal is ``normals``' row when given and usable, else the area-weighted sum of the normals of the
    vertex's faces. A vertex where that vanishes (only degenerate faces, cancelling faces, no face, non-finite
    coordinates) takes the mean of its face-neighbours' normals, spread for up to ``passes`` rings; what is left
    over gets ``up``.
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    if normals is None:
        tri = v[f]
        cross = np.nan_to_num(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), nan=0.0, posinf=0.0,
                              neginf=0.0)
        normals = np.zeros_like(v)
        for corner in range(3):
            np.add.at(normals, f[:, corner], cross)
    normals = np.array(normals, np.float64).reshape(len(v), 3)
    for _ in range(passes):
        ok = _unit_rows(normals)
        if ok.all() or not ok[f].any():
            break
        unit = np.zeros_like(normals)
        unit[ok] = normals[ok] / np.linalg.norm(normals[ok], axis=1, keepdims=True)
        ring = unit[f].sum(1)  # per face: its valid vertices' normals
        spread = np.zeros_like(normals)
        for corner in range(3):
            np.add.at(spread, f[:, corner], ring)
        normals = np.where(ok[:, None], normals, spread)
    normals = np.where(_unit_rows(normals)[:, None], normals, np.asarray(up, np.float64))
    out = (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)  # renormalise after the float32 rounding


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` that are finite and long enough to normalise."""
    return np.isfinite(x).all(1) & ((x * x).sum(1) > np.finfo(np.float64).tiny)


def has_quadric_decimation() -> bool:
    """Whether trimesh's quadric decimation backend (``fast_simplification``) is importable."""
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        return False
    return True


def _cluster(mesh: trimesh.Trimesh, cell: float) -> trimesh.Trimesh:
    v = np.asarray(mesh.vertices)
    keys = np.floor((v - v.min(0)) / cell).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    verts = np.stack([np.bincount(inverse, v[:, i]) for i in range(3)], 1) / counts[:, None]
    faces = inverse[np.asarray(mesh.faces)]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    out = trimesh.Trimesh(verts, faces[ok], process=False)
    out.update_faces(out.unique_faces())
    out.remove_unreferenced_vertices()
    return out


def cluster_decimation(mesh: trimesh.Trimesh, target_faces: int, iterations: int = 24) -> trimesh.Trimesh:
    """Vertex-clustering decimation to at most ``target_faces`` faces (the no-dependency fallback)."""
    lo, hi = 0.0, float(np.ptp(mesh.vertices, axis=0).max())
    best = _cluster(mesh, hi)
    for _ in range(iterations):  # bisect the cell size: the largest face count not above the budget
        mid = 0.5 * (lo + hi)
        cand = _cluster(mesh, mid)
        if len(cand.faces) <= target_faces:
            hi, best = mid, cand
        else:
            lo = mid
    return best


def decimate(mesh: trimesh.Trimesh, target_faces: int, method: str = "auto") -> trimesh.Trimesh:
    """Reduce ``mesh`` to about ``target_faces`` faces (unchanged when already below); the result has no
    zero-area or repeated faces and no unused vertices (:func:`drop_degenerate`).

    Args:
        target_faces: face budget.
        method: ``auto`` (quadric when available, else clustering), ``quadric`` or ``cluster``.

    Raises:
        ValueError: ``quadric`` requested without ``fast_simplification`` installed, or a bad budget.
    """
    if target_faces < 4:
        raise ValueError(f"target_faces must be >= 4, got {target_faces}")
    if len(mesh.faces) <= target_faces:
        return mesh
    if method == "auto":
        method = "quadric" if has_quadric_decimation() else "cluster"
    if method == "quadric":
        if not has_quadric_decimation():
            raise ValueError("quadric decimation needs `pip install fast_simplification`; or use method='cluster'.")
        return drop_degenerate(mesh.simplify_quadric_decimation(face_count=target_faces))
    if method == "cluster":
        return cluster_decimation(mesh, target_faces)
    raise ValueError(f"method must be 'auto', 'quadric' or 'cluster', got {method!r}")


def stored_normals(mesh: trimesh.Trimesh, rotation: np.ndarray | None = None) -> np.ndarray | None:
    """The vertex normals ``mesh`` holds, rotated by ``rotation``; None when it holds none (nothing is computed).

    The UV bake stores the normals of the mesh before its seams were split; trimesh keeps them in its cache
    while the vertices are unchanged (its exporters read the same cache), but a copy drops them.
    """
    normals = mesh._cache["vertex_normals"]
    if normals is None or np.shape(normals) != np.shape(mesh.vertices):
        return None
    return np.asarray(normals) if rotation is None else np.asarray(normals) @ np.asarray(rotation).T
