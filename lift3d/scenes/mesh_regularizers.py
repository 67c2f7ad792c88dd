"""Mesh regularizers for fixed-topology refinement: Laplacian smoothing and normal consistency.

Both keep an optimized surface smooth while vertex offsets follow image-space losses, as in the mesh
stages of Magic3D (arXiv 2211.10440) and the mesh losses of "Accelerating 3D Deep Learning with
PyTorch3D" (arXiv 2007.08501). The cotangent weights follow "Discrete Differential-Geometry Operators
for Triangulated 2-Manifolds" (Meyer et al., 2003).
"""

from __future__ import annotations

from typing import Literal

import torch

from lift3d.scenes.mesh import face_neighbors, face_normals

LaplacianKind = Literal["uniform", "cotangent"]


def _edge_weights(vertices: torch.Tensor, faces: torch.Tensor, kind: LaplacianKind) -> tuple[torch.Tensor, ...]:
    """Directed half-edges ``(i, j, w)`` of the Laplacian, one per face corner and direction."""
    f = faces.long()
    i = torch.cat([f[:, 0], f[:, 1], f[:, 2]])
    j = torch.cat([f[:, 1], f[:, 2], f[:, 0]])
    if kind == "uniform":
        w = torch.ones(i.shape[0], dtype=vertices.dtype, device=vertices.device)
    elif kind == "cotangent":
        # The edge (i, j) of each face is opposite its third corner k: weight cot(angle at k).
        k = torch.cat([f[:, 2], f[:, 0], f[:, 1]])
        a, b = vertices[i] - vertices[k], vertices[j] - vertices[k]
        cross = torch.linalg.cross(a, b).norm(dim=-1).clamp_min(1e-12)
        w = (a * b).sum(-1) / cross
    else:
        raise ValueError(f"unknown Laplacian kind {kind!r}; choose 'uniform' or 'cotangent'")
    # Symmetric: each undirected edge contributes to both endpoints.
    return torch.cat([i, j]), torch.cat([j, i]), torch.cat([w, w])


def laplacian(vertices: torch.Tensor, faces: torch.Tensor, kind: LaplacianKind = "uniform") -> torch.Tensor:
    """Normalised Laplacian vectors ``L v_i = v_i - sum_j w_ij v_j / sum_j w_ij``.

    With uniform weights an interior edge shared by two faces counts twice for both endpoints, and so
    does every other interior edge, so on a closed or interior neighbourhood it is the umbrella
    operator ``v_i - mean(neighbours)``. Cotangent weights make it vanish on any planar interior vertex.

    Args:
        vertices: ``[V, 3]`` positions.
        faces: ``[F, 3]`` indices.
        kind: ``uniform`` (umbrella) or ``cotangent`` weights.

    Returns:
        ``[V, 3]``; zero rows for isolated vertices.
    """
    i, j, w = _edge_weights(vertices, faces, kind)
    num = torch.zeros_like(vertices).index_add(0, i, w[:, None] * vertices[j])
    den = torch.zeros(vertices.shape[0], dtype=vertices.dtype, device=vertices.device).index_add(0, i, w)
    used = den.abs() > 1e-12
    mean = torch.where(used[:, None], num / torch.where(used, den, torch.ones_like(den))[:, None], vertices)
    return vertices - mean


def boundary_vertices(faces: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """``[V]`` bool: vertices on an edge that belongs to only one face."""
    open_edge = face_neighbors(faces) < 0
    mask = torch.zeros(num_vertices, dtype=torch.bool, device=faces.device)
    f = faces.long()
    for k in range(3):
        sel = open_edge[:, k]
        mask[f[sel, k]] = True
        mask[f[sel, (k + 1) % 3]] = True
    return mask


def laplacian_smoothing_loss(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    kind: LaplacianKind = "uniform",
    exclude_boundary: bool = False,
) -> torch.Tensor:
    """Mean squared norm of the Laplacian vectors (scalar).

    Args:
        vertices: ``[V, 3]`` positions.
        faces: ``[F, 3]`` indices.
        kind: ``uniform`` or ``cotangent`` weights.
        exclude_boundary: leave boundary vertices of open meshes out (their Laplacian is not zero even
            on a flat sheet).
    """
    lap = laplacian(vertices, faces, kind).pow(2).sum(-1)
    if exclude_boundary:
        keep = ~boundary_vertices(faces, vertices.shape[0])
        lap = lap[keep]
    return lap.mean() if lap.numel() else vertices.sum() * 0.0


def normal_consistency_loss(
    vertices: torch.Tensor, faces: torch.Tensor, neighbors: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``1 - cos`` between the normals of faces sharing an edge (scalar; 0 on a plane).

    Args:
        vertices: ``[V, 3]`` positions.
        faces: ``[F, 3]`` indices (consistently oriented).
        neighbors: ``[F, 3]`` from :func:`lift3d.scenes.mesh.face_neighbors` (computed when omitted).
    """
    if neighbors is None:
        neighbors = face_neighbors(faces)
    n = face_normals(vertices, faces)
    f_idx = torch.arange(faces.shape[0], device=faces.device)[:, None].expand_as(neighbors)
    valid = neighbors > f_idx  # each interior edge once
    a, b = f_idx[valid], neighbors[valid]
    if a.numel() == 0:
        return vertices.sum() * 0.0
    return (1.0 - (n[a] * n[b]).sum(-1)).mean()
