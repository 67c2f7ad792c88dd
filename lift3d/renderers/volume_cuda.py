"""CUDA backend of the volume renderer: nerfacc's occupancy-grid ray marcher and packed compositing
("NerfAcc: Efficient Sampling Accelerates NeRFs", Li et al., arXiv 2305.04966).

The occupancy state is our :class:`~lift3d.renderers._occupancy.OccupancyGrid` (same layout as
nerfacc's ``binaries``), so both backends skip exactly the same cells; only the marching and the
packed compositing run in nerfacc's CUDA kernels. Stratification jitters each ray's start by up to
one step using the caller's generator (nerfacc's own ``stratified`` flag has no generator).
"""

from __future__ import annotations

import torch

from lift3d.renderers._occupancy import OccupancyGrid
from lift3d.renderers.volume_config import MarchHost as VolumeRenderer
from lift3d.renderers.volume_config import Rays as _Rays
from lift3d.renderers.volume_sampling import ray_aabb_intersect
from lift3d.scenes.field import Field
from lift3d.scenes.shading import ShadingMode, orientation_penalty


def _estimator(renderer: VolumeRenderer, occ: OccupancyGrid):
    from nerfacc import OccGridEstimator

    est = getattr(renderer, "_nerfacc_estimator", None)
    if est is None or not torch.equal(est.aabbs[0], occ.aabb) or int(est.resolution[0]) != occ.resolution:
        est = OccGridEstimator(roi_aabb=occ.aabb, resolution=occ.resolution, levels=1).to(occ.aabb.device)
        renderer._nerfacc_estimator = est
    est.binaries = occ.binaries[None]
    return est


def render_rays_cuda(renderer: VolumeRenderer, scene: Field, rays: _Rays, occ: OccupancyGrid,
                     shading: ShadingMode, need_normals: bool, generator: torch.Generator | None) -> dict:
    """Render one chunk of rays with nerfacc's marcher; returns the same per-ray sums as the torch path."""
    from nerfacc import accumulate_along_rays, render_weight_from_density

    from lift3d.renderers.volume_torch import query_scene

    c = renderer.config
    R = rays.origins.shape[0]
    step = renderer.step_size(scene)
    t_near, t_far, _ = ray_aabb_intersect(rays.origins, rays.directions, scene.aabb, c.near)
    if generator is not None:
        t_near = t_near + torch.rand(t_near.shape, generator=generator, device=t_near.device) * step
    ray_ids, t_starts, t_ends = _estimator(renderer, occ).sampling(
        rays.origins, rays.directions, near_plane=c.near, t_min=t_near, t_max=t_far,
        render_step_size=step, stratified=False, early_stop_eps=0.0, alpha_thre=0.0,
    )
    ray_ids = ray_ids.long()
    mids = 0.5 * (t_starts + t_ends)
    points = rays.origins[ray_ids] + rays.directions[ray_ids] * mids[:, None]
    sigma, rgb, normals = query_scene(scene, points, rays, ray_ids, shading, need_normals, c)
    weights, _, _ = render_weight_from_density(t_starts, t_ends, sigma, ray_indices=ray_ids, n_rays=R)
    out = {
        "rgb": accumulate_along_rays(weights, rgb, ray_ids, R),
        "alpha": accumulate_along_rays(weights, None, ray_ids, R)[:, 0],
        "t": accumulate_along_rays(weights, mids[:, None], ray_ids, R)[:, 0],
        "num_samples": torch.tensor(ray_ids.numel(), device=mids.device),
    }
    if need_normals:
        out["normal"] = accumulate_along_rays(weights, normals, ray_ids, R)
        pen = orientation_penalty(weights, normals, rays.directions[ray_ids])
        out["orientation"] = accumulate_along_rays(pen, None, ray_ids, R)[:, 0]
    return out
