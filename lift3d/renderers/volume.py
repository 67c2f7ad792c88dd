"""Volume renderer for density fields (density grid, hash grid, triplane).

Emission-absorption compositing of "NeRF: Representing Scenes as Neural Radiance Fields for View
Synthesis" (Mildenhall et al., arXiv 2003.08934) with DreamFusion shading (arXiv 2209.14988).

Two backends share the shading and output code:

* ``torch`` (CPU and any device): ray-box clipping, stratified samples, optional inverse-CDF
  importance samples, optional occupancy-grid skipping (fields are only evaluated at samples in
  occupied cells), compositing with nerfacc's batched ``render_weight_from_density``
  (see :mod:`lift3d.renderers.volume_torch`).
* ``cuda``: nerfacc's ``OccGridEstimator.sampling`` ray marcher over our occupancy grid and nerfacc's
  packed compositing (see :mod:`lift3d.renderers.volume_cuda`). No importance sampling there.
"""

from __future__ import annotations

import torch
from torch import nn

from lift3d.cameras import Cameras
from lift3d.renderers._occupancy import OccupancyGrid
from lift3d.renderers.backgrounds import Background, background_colors
from lift3d.renderers.volume_config import Rays as _Rays  # noqa: E402
from lift3d.renderers.volume_config import VolumeRendererConfig  # noqa: E402
from lift3d.scenes.field import Field
from lift3d.scenes.shading import PointLights, ShadingMode
from lift3d.types import LiftError, RenderOutput, resolve_backend


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
        if backend == "cuda" and occ is None and self.config.backend == "cuda":
            raise ValueError("backend='cuda' marches through nerfacc's occupancy grid: set occupancy=True and call "
                             "update_occupancy, or use backend='auto' (torch path on CUDA tensors)")
        if backend == "cuda" and occ is not None:
            from lift3d.renderers.volume_cuda import render_rays_cuda as march
        else:
            from lift3d.renderers.volume_torch import render_rays_torch as march
        parts = [march(self, scene, r, occ, shading, need_normals, generator) for r in rays.split(self.config.chunk_rays)]
        out = {k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "num_samples"}
        out["num_samples"] = torch.stack([torch.as_tensor(p["num_samples"]) for p in parts]).sum()
        return out
