"""Surface quality of a result mesh against a ground-truth mesh: normal consistency and lumpiness.

* **Normal consistency** (as in Occupancy Networks, Mescheder et al., CVPR 2019, arXiv 1812.03828): draw
  area-weighted samples on both surfaces, each with its face normal; for every sample of one surface take the
  nearest face (by position) of the other and the absolute cosine between the two normals; average each
  direction, then the two directions. Unsigned (``|cos|``), so a result with flipped or inconsistent winding is
  not punished for orientation, only for direction. 1 means every local tangent plane agrees; a random
  direction scores 0.5 on average.
* **Lumpiness**: how much more the result bends than the truth, scale-free. The integrated absolute mean
  curvature of a triangle mesh lives on its edges: ``M = 1/2 sum_e |e| |theta_e|`` with ``theta_e`` the
  dihedral (normal-to-normal) angle at edge ``e`` (Sullivan, "Curvatures of smooth and discrete surfaces",
  2008; for a convex polyhedron this is Steiner's mean-width term, so it does not depend on the
  triangulation: a cube of side 1 has ``M = 12 * 1/2 * pi/2 = 3 pi`` however its faces are split).
  ``M / sqrt(area)`` is invariant to scale; lumpiness is that ratio for the result over the ratio for the
  ground truth, minus 1. It is 0 for a mesh of the true shape (exactly, for flat-faced families), positive for
  a bumpier surface (noise, marching-cube steps, floaters), negative for a smoother one (a cube with rounded
  edges; the sphere minimises the ratio among convex bodies, Minkowski's inequality ``M^2 >= 4 pi A``).

Both need faces; point clouds (splats without a mesh) get None from :mod:`lift3d.pipelines.evaluate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh


def surface_samples(mesh: trimesh.Trimesh, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` area-weighted points on ``mesh`` and the unit normals of the faces they lie on.

    Deterministic in ``seed`` (a private generator; numpy's global state is not touched).
    """
    if not len(mesh.faces):
        raise ValueError("the mesh has no faces")
    points, faces = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, dtype=np.float64), np.asarray(mesh.face_normals[faces], dtype=np.float64)


def closest_face_normals(mesh: trimesh.Trimesh, points: np.ndarray, candidates: int = 16) -> np.ndarray:
    """Unit normal of the face of ``mesh`` nearest to each of ``points [N, 3]``.

    The nearest face is searched among the ``candidates`` faces with the nearest centroids (a k-d tree), by exact
    point-triangle distance, after splitting the faces to edges of at most 2 % of the bounding box's diagonal
    (normals unchanged): centroids of long slivers, such as a cone's sides, are far from most of their points.
    """
    from scipy.spatial import cKDTree

    max_edge = 0.02 * float(np.linalg.norm(mesh.extents))
    if max_edge > 0 and float(mesh.edges_unique_length.max(initial=0.0)) > max_edge:
        vertices, faces, index = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge,
                                                                   max_iter=12, return_index=True)
        normals = mesh.face_normals[index]
        mesh = trimesh.Trimesh(vertices, faces, process=False)
    else:
        normals = mesh.face_normals

    k = min(candidates, len(mesh.faces))
    _, idx = cKDTree(mesh.triangles_center).query(points, k=k)
    idx = np.asarray(idx).reshape(len(points), k)
    tri = mesh.triangles[idx.reshape(-1)]
    closest = trimesh.triangles.closest_point(tri, np.repeat(points, k, axis=0))
    dist = np.linalg.norm(closest - np.repeat(points, k, axis=0), axis=-1).reshape(len(points), k)
    faces = idx[np.arange(len(points)), dist.argmin(axis=1)]
    return np.asarray(normals[faces], dtype=np.float64)


def normal_consistency(result: trimesh.Trimesh, truth: trimesh.Trimesh, samples: int = 4096, seed: int = 0) -> float:
    """Normal consistency of ``result`` with ``truth`` (see module): ``samples`` area-weighted samples of each
    surface against the nearest face of the other, ``|cos|`` averaged per direction, then over both."""
    directions = []
    for i, (a, b) in enumerate(((result, truth), (truth, result))):
        points, normals = surface_samples(a, samples, seed + i)
        directions.append(np.abs(np.sum(normals * closest_face_normals(b, points), axis=-1)).mean())
    return min(1.0, float(0.5 * (directions[0] + directions[1])))


def total_absolute_mean_curvature(mesh: trimesh.Trimesh) -> float:
    """``M = 1/2 sum_e |e| |theta_e|`` over interior edges (boundary edges bend nothing), in length units."""
    if len(mesh.face_adjacency) == 0:
        return 0.0
    edges = mesh.vertices[mesh.face_adjacency_edges]
    lengths = np.linalg.norm(edges[:, 0] - edges[:, 1], axis=-1)
    angles = np.nan_to_num(np.asarray(mesh.face_adjacency_angles, dtype=np.float64))
    return float(0.5 * np.sum(lengths * np.abs(angles)))


def curvature_ratio(mesh: trimesh.Trimesh) -> float:
    """Scale-free ``M / sqrt(area)``: 3 pi / sqrt(6) ~ 3.85 for a cube, 2 sqrt(pi) ~ 3.54 for a sphere."""
    area = float(mesh.area)
    if area <= 0:
        raise ValueError("the mesh has no area")
    return total_absolute_mean_curvature(mesh) / math.sqrt(area)


def lumpiness(result: trimesh.Trimesh, truth: trimesh.Trimesh) -> float:
    """``curvature_ratio(result) / curvature_ratio(truth) - 1`` (see module): 0 as curved as the truth."""
    return curvature_ratio(result) / curvature_ratio(truth) - 1.0


@dataclass(frozen=True)
class SurfaceQuality:
    """Surface metrics of one result against its ground truth."""

    normal_consistency: float
    lumpiness: float


def surface_quality(result: trimesh.Trimesh, truth: trimesh.Trimesh, samples: int = 4096,
                    seed: int = 0) -> SurfaceQuality:
    """Both metrics; degenerate (zero-area) faces of ``result`` are dropped first, as they carry no normal."""
    result = result.copy()
    result.update_faces(result.area_faces > 1e-12)
    result.remove_unreferenced_vertices()
    return SurfaceQuality(normal_consistency(result, truth, samples, seed), lumpiness(result, truth))


__all__ = ["SurfaceQuality", "curvature_ratio", "lumpiness", "normal_consistency", "closest_face_normals",
           "surface_quality", "surface_samples", "total_absolute_mean_curvature"]
