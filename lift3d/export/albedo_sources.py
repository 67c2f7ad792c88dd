"""Appearance callables ``points [N, 3] -> rgb [N, 3]`` for texture baking from non-field sources.

Fields (``scene.albedo``, a procedural object's ``albedo``) are callables already; these adapters
cover meshes with vertex colours and Gaussian splats.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from torch import Tensor

from lift3d.export.uv_bake import AlbedoFn


def albedo_from_vertex_colors(mesh: trimesh.Trimesh, k: int = 8) -> AlbedoFn:
    """Colour of the closest surface point of ``mesh``, barycentrically interpolated from its vertex colours.

    The closest point is searched exactly among the faces around the ``k`` nearest vertices (a
    ``scipy`` KD-tree, so trimesh's optional ``rtree`` dependency is not needed).
    """
    from scipy.spatial import cKDTree

    if getattr(mesh.visual, "kind", None) not in ("vertex", "face"):
        raise ValueError("mesh has no vertex or face colours to bake; give another albedo callable.")
    colors = np.asarray(mesh.visual.vertex_colors[:, :3], np.float64) / 255.0
    tree = cKDTree(np.asarray(mesh.vertices))
    vertex_faces = np.asarray(mesh.vertex_faces)  # [V, max valence], -1 padded
    triangles = np.asarray(mesh.triangles)
    k = min(k, len(mesh.vertices))

    def albedo(points: Tensor) -> Tensor:
        p = points.detach().cpu().double().numpy()
        _, near = tree.query(p, k=k)
        cand = vertex_faces[near.reshape(len(p), -1)].reshape(len(p), -1)  # [P, C] candidate faces
        cand = np.where(cand < 0, cand.max(axis=1, keepdims=True), cand)
        closest = trimesh.triangles.closest_point(triangles[cand.ravel()], np.repeat(p, cand.shape[1], axis=0))
        dist = np.linalg.norm(closest.reshape(len(p), -1, 3) - p[:, None], axis=-1)
        best = dist.argmin(1)
        tri = cand[np.arange(len(p)), best]
        hit = closest.reshape(len(p), -1, 3)[np.arange(len(p)), best]
        bary = trimesh.triangles.points_to_barycentric(triangles[tri], hit)
        rgb = (np.clip(bary, 0.0, 1.0)[:, :, None] * colors[mesh.faces[tri]]).sum(1)
        return torch.from_numpy(rgb).to(points)

    return albedo


def albedo_from_gaussians(means: Tensor, colors: Tensor, opacities: Tensor, k: int = 8,
                          chunk: int = 4096) -> AlbedoFn:
    """Opacity- and distance-weighted colour of the ``k`` nearest Gaussian centres.

    Weights are ``o_i / (d_i^2 + eps)`` with ``eps`` the squared median nearest-neighbour spacing, so
    the nearest confident splat dominates without hard seams between Voronoi cells.

    Args:
        means: ``[N, 3]`` centres; colours: ``[N, 3]`` (e.g. the degree-0 SH colour ``SH_C0 * sh0 + 0.5``);
            opacities: ``[N]`` in [0, 1].
    """
    means, colors, opacities = means.detach().float(), colors.detach().float(), opacities.detach().float()
    k = min(k, means.shape[0])
    probe = means[torch.linspace(0, means.shape[0] - 1, min(2048, means.shape[0])).long()]
    nn_d = torch.cdist(probe, means).topk(min(2, means.shape[0]), largest=False).values[:, -1]
    eps = float(nn_d.median().clamp_min(1e-8)) ** 2

    def albedo(points: Tensor) -> Tensor:
        out = []
        for s in range(0, points.shape[0], chunk):
            d2, idx = torch.cdist(points[s : s + chunk].float(), means).pow(2).topk(k, largest=False)
            w = opacities[idx] / (d2 + eps)
            out.append((w[..., None] * colors[idx]).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-12))
        return torch.cat(out).clamp(0.0, 1.0).to(points)

    return albedo
