"""Torch backend of the volume renderer: batched ``[rays, samples]`` sampling and compositing.

Ray-box clipping, stratified and inverse-CDF importance samples (:mod:`volume_sampling`), occupancy
skipping by evaluating the field only at samples in occupied cells, and nerfacc's batched
``render_weight_from_density`` (which runs on CPU; nerfacc's packed ops do not).
"""

from __future__ import annotations

import torch
from nerfacc import render_weight_from_density

from lift3d.renderers._occupancy import OccupancyGrid
from lift3d.renderers.volume_config import MarchHost as VolumeRenderer
from lift3d.renderers.volume_config import Rays as _Rays
from lift3d.renderers.volume_config import VolumeRendererConfig
from lift3d.renderers.volume_sampling import merge_edges, ray_aabb_intersect, sample_pdf, stratified_bins
from lift3d.scenes.field import Field
from lift3d.scenes.shading import ShadingMode, field_with_normals, orientation_penalty, shade
from lift3d.types import LiftError


def render_rays_torch(renderer: VolumeRenderer, scene: Field, rays: _Rays, occ: OccupancyGrid | None,
                      shading: ShadingMode, need_normals: bool, generator: torch.Generator | None) -> dict:
    """Render one chunk of rays with the torch backend; returns per-ray sums (see ``forward``)."""
    c = renderer.config
    t_near, t_far, hit = ray_aabb_intersect(rays.origins, rays.directions, scene.aabb, c.near)
    edges = stratified_bins(t_near, t_far, c.num_samples, generator)
    coarse_count = 0
    if c.num_importance > 0:
        with torch.no_grad():
            sigma, _, _, coarse_count = _evaluate(scene, rays, edges, hit, occ, "albedo", False, c)
            weights, _, _ = render_weight_from_density(edges[:, :-1], edges[:, 1:], sigma)
        edges = merge_edges(edges, sample_pdf(edges, weights, c.num_importance, generator))
    sigma, rgb, normals, count = _evaluate(scene, rays, edges, hit, occ, shading, need_normals, c)
    weights, _, _ = render_weight_from_density(edges[:, :-1], edges[:, 1:], sigma)
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    out = {
        "rgb": (weights[..., None] * rgb).sum(1),
        "alpha": weights.sum(1),
        "t": (weights * mids).sum(1),
        "num_samples": count + coarse_count,
    }
    if need_normals:
        out["normal"] = (weights[..., None] * normals).sum(1)
        out["orientation"] = orientation_penalty(weights, normals, rays.directions[:, None]).sum(1)
    return out


def query_scene(scene: Field, points: torch.Tensor, rays: _Rays, ray_ids: torch.Tensor, shading: ShadingMode,
                need_normals: bool, config: VolumeRendererConfig):
    """Density ``[M]``, shaded colour ``[M, 3]`` and normals ``[M, 3]`` (or None) at sample ``points``.

    Raises:
        LiftError: the scene produced NaN/Inf (non-finite parameters).
    """
    if need_normals:
        sigma, albedo, normals = field_with_normals(scene, points, config.normals, config.normal_eps)
    else:
        (sigma, albedo), normals = scene(points), None
    if not (torch.isfinite(sigma).all() and torch.isfinite(albedo).all()):
        raise LiftError(f"{type(scene).__name__} produced NaN/Inf density or albedo: its parameters are not "
                        "finite (check the learning rate, or reload the last checkpoint)")
    if shading == "albedo":
        return sigma, albedo, normals
    rgb = shade(albedo, normals, points, rays.light_pos[ray_ids], rays.ambient[ray_ids], shading)
    return sigma, rgb, normals


def _evaluate(scene, rays: _Rays, edges, hit, occ, shading, need_normals, config):
    """Evaluate the field at the midpoints of ``edges [R, S+1]`` that are in the box and occupied."""
    R, S = edges.shape[0], edges.shape[1] - 1
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    points = rays.origins[:, None] + rays.directions[:, None] * mids[..., None]  # [R, S, 3]
    mask = hit[:, None] & (edges[:, 1:] > edges[:, :-1])
    if occ is not None:
        mask = mask & occ.query(points)
    ray_ids = torch.arange(R, device=edges.device)[:, None].expand(R, S)[mask]
    sigma_m, rgb_m, normals_m = query_scene(scene, points[mask], rays, ray_ids, shading, need_normals, config)
    sigma = sigma_m.new_zeros(R, S).masked_scatter(mask, sigma_m)
    rgb = rgb_m.new_zeros(R, S, 3).masked_scatter(mask[..., None], rgb_m)
    normals = None
    if normals_m is not None:
        normals = normals_m.new_zeros(R, S, 3).masked_scatter(mask[..., None], normals_m)
    return sigma, rgb, normals, mask.sum()
