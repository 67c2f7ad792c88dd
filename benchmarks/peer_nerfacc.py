"""Peer volume renderer for the benchmarks: nerfacc's CPU-capable volume-rendering functions.

nerfacc 0.5.3 on CPU: ``render_weight_from_density`` runs in its batched ``[rays, samples]`` form, and
``accumulate_along_rays`` (an ``index_add`` over a flat sample list with ``ray_indices``) runs; its packed
forms (``pack_info``, ``render_weight_from_density(..., ray_indices=/packed_info=)``) and the
``OccGridEstimator`` marcher raise ``NotImplementedError: Only support cuda inputs``. So the peer is nerfacc's
packed layout as far as CPU allows: the field is queried once on the flat list of in-box samples, the
weights come from ``render_weight_from_density`` and colour, opacity and distance are summed per ray by
``accumulate_along_rays``. Samples are exactly lift3d's deterministic ones (``generator=None``: ray-box
clip, evenly spaced bins, midpoints), so the images must agree with lift3d's torch path.
"""

from __future__ import annotations

import torch
from nerfacc import accumulate_along_rays, render_weight_from_density

from lift3d.renderers.volume_sampling import ray_aabb_intersect, stratified_bins


def render_peer(scene, cameras, num_samples: int, near: float = 0.0):
    """``rgb [B, H, W, 3]`` over white and ``alpha [B, H, W, 1]`` of ``scene`` (a lift3d field)."""
    origins, dirs = cameras.rays()
    B, H, W, _ = dirs.shape
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    R = o.shape[0]
    t_near, t_far, hit = ray_aabb_intersect(o, d, scene.aabb, near)
    edges = stratified_bins(t_near, t_far, num_samples)
    t0, t1 = edges[:, :-1], edges[:, 1:]
    mids = 0.5 * (t0 + t1)
    mask = hit[:, None] & (t1 > t0)
    ray_indices = torch.arange(R)[:, None].expand(R, num_samples)[mask]
    points = o[ray_indices] + d[ray_indices] * mids[mask][:, None]
    sigma_m, rgb_m = scene(points)
    sigma = sigma_m.new_zeros(R, num_samples).masked_scatter(mask, sigma_m)
    weights, _, _ = render_weight_from_density(t0, t1, sigma)
    w = weights[mask]
    rgb = accumulate_along_rays(w, rgb_m, ray_indices=ray_indices, n_rays=R)
    alpha = accumulate_along_rays(w, None, ray_indices=ray_indices, n_rays=R)
    rgb, alpha = rgb.view(B, H, W, 3), alpha.view(B, H, W, 1)
    return rgb + (1.0 - alpha), alpha
