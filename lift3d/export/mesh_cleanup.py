"""Mesh cleanup after extraction: floaters, degenerate faces, decimation, normals.

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
    """Reduce ``mesh`` to about ``target_faces`` faces (unchanged when already below).

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
        out = mesh.simplify_quadric_decimation(face_count=target_faces)
        out.remove_unreferenced_vertices()
        return out
    if method == "cluster":
        return cluster_decimation(mesh, target_faces)
    raise ValueError(f"method must be 'auto', 'quadric' or 'cluster', got {method!r}")
