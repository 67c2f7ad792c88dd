"""Volume renderer for density fields (density grid, hash grid, triplane).

Emission-absorption compositing of "NeRF: Representing Scenes as Neural Radiance Fields for View
Synthesis" (Mildenhall et al., arXiv 2003.08934) with DreamFusion shading (arXiv 2209.14988).

Two backends share the shading and output code:

* ``torch`` (CPU and any device): ray-box clipping, stratified samples, optional inverse-CDF
  importance samples, optional occupancy-grid skipping (fields are only evaluated at samples in
  occupied cells), compositing with nerfacc's batched ``render_weight_from_density``.
* ``cuda``: nerfacc's ``OccGridEstimator.sampling`` ray marcher over our occupancy grid and nerfacc's
  packed compositing (see :mod:`lift3d.renderers.volume_cuda`). No importance sampling there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from nerfacc import render_weight_from_density
from torch import nn

from lift3d.cameras import Cameras
from lift3d.renderers._occupancy import OccupancyGrid
from lift3d.renderers.backgrounds import Background, background_colors
from lift3d.renderers.volume_sampling import merge_edges, ray_aabb_intersect, sample_pdf, stratified_bins
from lift3d.scenes.field import Field
from lift3d.scenes.shading import (
    NormalMethod,
    PointLights,
    ShadingMode,
    field_with_normals,
    orientation_penalty,
    shade,
)
from lift3d.types import Backend, LiftError, RenderOutput, resolve_backend


@dataclass(frozen=True)
class VolumeRendererConfig:
    """Volume renderer settings."""

    num_samples: int = 64
    """Stratified samples per ray across the box (the CUDA marcher uses step = diagonal / num_samples)."""
    num_importance: int = 0
    """Extra samples per ray drawn by inverse CDF from the coarse weights (torch backend)."""
    near: float = 0.0
    """Near plane distance; rays of cameras inside the box start here."""
    chunk_rays: int = 8192
    """Rays rendered per chunk (bounds memory)."""
    occupancy: bool = False
    """Skip samples in empty occupancy-grid cells (call ``update_occupancy`` to build the grid)."""
    occupancy_resolution: int = 64
    """Occupancy cells per side."""
    occupancy_threshold: float = 0.01
    """Occupancy (density * step) below which a cell is empty."""
    normals: NormalMethod = "analytic"
    """How normals are computed when shading or ``compute_normals`` needs them."""
    normal_eps: float = 1e-3
    """Finite-difference step for ``normals='finite_difference'``."""
    compute_normals: bool = False
    """Always output normals (they are computed anyway for lambertian/textureless shading)."""
    backend: Backend = "auto"
    """``auto`` uses nerfacc's CUDA marcher for CUDA tensors when occupancy is on, else torch."""

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.num_importance < 0 or self.chunk_rays < 1:
            raise ValueError("need num_samples >= 1, num_importance >= 0 and chunk_rays >= 1")


class _Rays:
    """A flat batch of rays with their lighting, split into chunks."""

    def __init__(self, origins, directions, light_pos, ambient) -> None:
        self.origins, self.directions, self.light_pos, self.ambient = origins, directions, light_pos, ambient

    def split(self, n: int):
        parts = [t.split(n) if t is not None else None for t in (self.origins, self.directions, self.light_pos,
                                                                 self.ambient)]
        for i in range(len(parts[0])):
            yield _Rays(*(p[i] if p is not None else None for p in parts))


class VolumeRenderer(nn.Module):
    """Renders a :class:`~lift3d.scenes.field.Field` from cameras.

    It holds the occupancy grid (a buffer tied to the scene it was updated from).
    """

    def __init__(self, config: VolumeRendererConfig | None = None) -> None:
        super().__init__()
        self.config = config or VolumeRendererConfig()
        self.occupancy_grid: OccupancyGrid | None = None

    def step_size(self, scene: Field) -> float:
        """Sample spacing: box diagonal / num_samples."""
        return float((scene.aabb[3:] - scene.aabb[:3]).norm()) / self.config.num_samples

    @torch.no_grad()
    def update_occupancy(self, scene: Field, generator: torch.Generator | None = None,
                         samples_per_cell: int = 1) -> OccupancyGrid:
        """Build or EMA-update the occupancy grid from ``scene.density``."""
        c = self.config
        grid = self.occupancy_grid
        if grid is None or not torch.equal(grid.aabb, scene.aabb):
            grid = OccupancyGrid(scene.aabb, c.occupancy_resolution, threshold=c.occupancy_threshold)
            self.occupancy_grid = grid.to(scene.aabb.device)
        self.occupancy_grid.update(scene.density, self.step_size(scene), generator, samples_per_cell)
        return self.occupancy_grid

    def _occupancy(self, scene: Field) -> OccupancyGrid | None:
        if not self.config.occupancy:
            return None
        if self.occupancy_grid is None:
            raise LiftError("occupancy=True but the grid was never built: call renderer.update_occupancy(scene)")
        return self.occupancy_grid

    def forward(
        self,
        scene: Field,
        cameras: Cameras,
        background: Background | torch.Tensor | tuple[float, float, float] | None = None,
        *,
        shading: ShadingMode = "albedo",
        lights: PointLights | None = None,
        generator: torch.Generator | None = None,
    ) -> RenderOutput:
        """Render ``scene`` from ``cameras``.

        Args:
            scene: the field.
            cameras: B cameras of size H x W.
            background: a background module, an RGB colour (``[3]`` or ``[B, 3]``), or None (white).
            shading: ``albedo``, ``lambertian`` or ``textureless`` (the last two need ``lights``).
            lights: one point light per camera.
            generator: stratified jitter, importance samples and random backgrounds; None renders
                deterministically (evenly spaced samples).

        Returns:
            ``RenderOutput`` with rgb, alpha, depth (camera z, 0 where empty), normal (alpha-weighted,
            or None) and aux ``orientation [B, H, W, 1]`` (when normals exist) and ``num_samples``
            (field evaluations, a 0-d tensor).
        """
        if shading != "albedo" and lights is None:
            raise ValueError(f"shading={shading!r} needs lights=PointLights(...) (e.g. PointLights.sample)")
        origins, dirs = cameras.rays()
        B, H, W, _ = dirs.shape
        light_pos = ambient = None
        if lights is not None:
            light_pos = lights.positions[:, None, None, :].expand(B, H, W, 3).reshape(-1, 3)
            ambient = lights.ambient[:, None, None].expand(B, H, W).reshape(-1)
        out = self.render_rays(scene, origins.reshape(-1, 3), dirs.reshape(-1, 3), shading=shading,
                               light_positions=light_pos, ambient=ambient, generator=generator)
        alpha = out["alpha"].view(B, H, W, 1)
        bg = background_colors(background, dirs, generator)
        rgb = out["rgb"].view(B, H, W, 3) + (1.0 - alpha) * bg
        cos = (dirs * cameras.c2w[:, None, None, :3, 2]).sum(-1, keepdim=True)
        depth = torch.where(alpha > 1e-6, out["t"].view(B, H, W, 1) / alpha.clamp_min(1e-6) * cos, 0.0)
        aux = {"num_samples": out["num_samples"]}
        normal = None
        if "normal" in out:
            normal = out["normal"].view(B, H, W, 3)
            aux["orientation"] = out["orientation"].view(B, H, W, 1)
        return RenderOutput(rgb=rgb, alpha=alpha, depth=depth, normal=normal, aux=aux)

    def render_rays(
        self,
        scene: Field,
        origins: torch.Tensor,
        directions: torch.Tensor,
        *,
        shading: ShadingMode = "albedo",
        light_positions: torch.Tensor | None = None,
        ambient: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render a flat batch of rays (e.g. random rays drawn from many views), without background.

        Args:
            scene: the field.
            origins: ``[N, 3]`` ray origins.
            directions: ``[N, 3]`` unit ray directions.
            shading: as in :meth:`forward`; lambertian/textureless need ``light_positions`` ``[N, 3]``
                and ``ambient`` ``[N]``.
            generator: stratified jitter and importance samples (None: deterministic).

        Returns:
            ``rgb [N, 3]`` (premultiplied by alpha), ``alpha [N]``, ``t [N]`` (alpha-weighted ray
            distance), ``num_samples`` (0-d) and, when normals are computed, ``normal [N, 3]`` and
            ``orientation [N]``.
        """
        if shading != "albedo" and (light_positions is None or ambient is None):
            raise ValueError(f"shading={shading!r} needs lights (light_positions and ambient)")
        backend = resolve_backend(self.config.backend, origins.device)
        rays = _Rays(origins, directions, light_positions, ambient)
        occ = self._occupancy(scene)
        need_normals = shading != "albedo" or self.config.compute_normals
        if backend == "cuda" and occ is not None:
            from lift3d.renderers.volume_cuda import render_rays_cuda as march
        else:
            march = render_rays_torch
        parts = [march(self, scene, r, occ, shading, need_normals, generator) for r in rays.split(self.config.chunk_rays)]
        out = {k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "num_samples"}
        out["num_samples"] = torch.stack([torch.as_tensor(p["num_samples"]) for p in parts]).sum()
        return out


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
