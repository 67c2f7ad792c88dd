"""The Gaussians rig: 3D Gaussian splats optimized by guidance, DreamGaussian style
("DreamGaussian: Generative Gaussian Splatting for Efficient 3D Content Creation", arXiv 2309.16653):
random init in a ball, per-attribute Adam, gsplat's densification, splat export plus a mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.export.asset import AssetOptions
from lift3d.renderers.gaussians import GaussianRenderer, GaussianRendererConfig
from lift3d.rigs.base import FixedLight, Regularizers, opacity_terms, write_asset_or_warn
from lift3d.scenes.gaussians import ATTRIBUTES, SH_C0, GaussianLearningRates, Gaussians
from lift3d.scenes.gaussians_strategy import DefaultDensify, GaussianOptimizer, MCMCDensify
from lift3d.types import LiftError, RenderOutput


@dataclass(frozen=True)
class GaussianScene:
    """3D Gaussians rendered by the splat renderer (gsplat on CUDA, ours on CPU)."""

    KIND = "gaussians"
    num_points: int = 4000
    """Initial Gaussians, uniform in a ball."""
    init_radius: float = 0.5
    sh_degree: int = 0
    """SH degree (0: view-independent colour, as DreamGaussian)."""
    init_opacity: float = 0.1
    lr: GaussianLearningRates = GaussianLearningRates(means=1e-3, quats=5e-3, scales=5e-3, opacities=5e-2,
                                                      sh0=1e-2, shN=5e-4)
    densify: DefaultDensify | MCMCDensify | None = DefaultDensify(
        grow_grad2d=2e-4, grow_scale3d=0.01, prune_opa=0.01, prune_scale3d=0.2, refine_start_iter=100,
        refine_stop_iter=300, refine_every=50, reset_every=100_000)
    renderer: GaussianRendererConfig = GaussianRendererConfig()
    regularizers: Regularizers = Regularizers(sparsity=0.0, entropy=0.02)

    def build(self, generator: torch.Generator, device: torch.device, light: FixedLight | None = None) -> GaussianRig:
        """``light`` is unused: splat colours are unlit (shading is baked into them)."""
        scene = Gaussians.random_ball(self.num_points, self.init_radius, generator, self.sh_degree,
                                      opacity=self.init_opacity)
        return GaussianRig(self, scene.to(device))

    def cannot_start_fresh(self) -> str | None:
        """None: a fresh scene is its own initialization."""
        return None

    def refines(self, previous: object) -> str | None:
        """Any scene can be refined (from its Gaussians or its extracted surface): None."""
        return None

    def build_from_state(self, state: dict, generator: torch.Generator, device: torch.device,
                         light: FixedLight | None = None) -> GaussianRig:
        """The rig of a checkpoint's ``state`` (its Gaussian count comes from the state)."""
        rig = self.build(generator, device, light)
        rig.load_state(state)
        return rig

    def build_from_previous(self, previous, generator: torch.Generator, device: torch.device,
                            light: FixedLight | None = None) -> GaussianRig:
        """A refine stage: the previous stage's Gaussians as they are, else ``num_points`` flat Gaussians on its
        extracted surface (with its colours), optimized under this stage's settings."""
        if isinstance(previous, GaussianRig):
            params = {k: v.detach().clone() for k, v in previous.scene.params.items()}
            scene = Gaussians(params["means"], params["quats"], params["scales"], params["opacities"],
                              params["sh0"], params["shN"], isotropic=previous.scene.isotropic)
            return GaussianRig(self, scene.to(device))
        mesh = previous.mesh()
        if mesh is None or len(mesh.faces) == 0:
            raise LiftError("the previous stage produced no surface to put Gaussians on; run the coarse stage longer")
        return GaussianRig(self, Gaussians.from_mesh(mesh, self.num_points, generator, self.sh_degree).to(device))


class GaussianRig:
    """Gaussians, their renderer, per-attribute optimizers and densification state."""

    def __init__(self, spec: GaussianScene, scene: Gaussians) -> None:
        self.spec, self.scene = spec, scene
        self.renderer = GaussianRenderer(spec.renderer)
        self.optim = GaussianOptimizer(scene, spec.densify, spec.lr)

    @property
    def scene_device(self) -> torch.device:
        return self.scene.means.device

    @torch.no_grad()
    def rescale(self, centre: torch.Tensor, factor: float) -> None:
        """Map world point ``p`` to ``(p - centre) * factor``: means move and scale, log-scales shift by ``log factor``."""
        import math

        self.scene.params["means"].sub_(centre.to(self.scene.means)).mul_(factor)
        self.scene.params["scales"].add_(math.log(factor))

    def render(self, cameras: Cameras, background, generator: torch.Generator | None, step: int = 0) -> RenderOutput:
        return self.renderer(self.scene, cameras.to(self.scene_device), torch.tensor(background))

    def render_albedo(self, cameras: Cameras) -> RenderOutput:
        return self.renderer(self.scene, cameras.to(self.scene_device), torch.zeros(3))

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]:
        return opacity_terms(self.spec.regularizers, out)

    def before_step(self, step: int, generator: torch.Generator) -> None:
        """Nothing before rendering."""

    def zero_grad(self) -> None:
        self.optim.zero_grad()

    def before_backward(self, step: int, out: RenderOutput) -> None:
        self.optim.before_backward(step, out)

    def step(self, step: int, out: RenderOutput, cameras: Cameras) -> None:
        self.optim.step(step, out, cameras)

    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.scene.params.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optim.optimizers.items()},
                "strategy": dict(self.optim.state)}

    def load_state(self, state: dict) -> None:
        """Restore parameters (whatever their count after densification), optimizers and strategy state."""
        for k in ATTRIBUTES:
            self.scene.params[k] = torch.nn.Parameter(state["params"][k].to(self.scene_device),
                                                      requires_grad=self.scene.params[k].requires_grad)
        self.optim = GaussianOptimizer(self.scene, self.spec.densify, self.spec.lr)
        for k, o in self.optim.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.optim.state.update(state["strategy"])

    @torch.no_grad()
    def mesh(self, resolution: int = 96):
        """Splat-to-mesh (summed Gaussian kernel) with vertex colours: splats are first widened in their plane to
        half the gap to their nearest neighbour, so sparse clouds mesh without holes; of the grid-line matched
        level and lower ones, the level whose mesh's silhouettes best match the splats' renders is kept."""
        from lift3d.export.mesh_cleanup import clean_mesh
        from lift3d.export.mesh_extract import (
            covariances_from_quats_scales,
            gap_filling_covariances,
            mesh_from_gaussians,
        )

        s = self.scene
        cov = covariances_from_quats_scales(s.quats, s.scales.expand(-1, 3) if s.isotropic else s.scales)
        cov = gap_filling_covariances(s.means, cov)
        splats = self._splat_silhouettes()  # rendered once, compared with every candidate level's mesh
        mesh = clean_mesh(mesh_from_gaussians(s.means, cov, s.opacities, resolution,
                                              choose=lambda m: self.silhouette_match(m, splats)))
        if len(mesh.vertices):
            pts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32)
            nearest = torch.cdist(pts, s.means.cpu()).argmin(1)
            rgb = (s.sh[:, 0].cpu() * SH_C0 + 0.5).clamp(0, 1)[nearest].numpy()
            mesh.visual.vertex_colors = np.concatenate([rgb * 255, np.full((len(rgb), 1), 255)], 1).astype(np.uint8)
        return mesh

    @torch.no_grad()
    def _splat_silhouettes(self, views: int = 8, resolution: int = 48) -> tuple[Cameras, torch.Tensor]:
        """The orbit views (elevation 20) :meth:`silhouette_match` compares on, and the splats' alpha > 0.5 there."""
        from lift3d.sampling import turntable

        cams = turntable(views, resolution, elevation_deg=20.0).to(self.scene_device)
        return cams, self.render_albedo(cams).alpha > 0.5

    @torch.no_grad()
    def silhouette_match(self, mesh, splats: tuple[Cameras, torch.Tensor] | None = None) -> float:
        """Mean IoU of ``mesh``'s alpha > 0.5 with the splats' (``splats``: from :meth:`_splat_silhouettes`,
        computed here when None)."""
        from lift3d.renderers.mesh import MeshRenderer
        from lift3d.scenes.mesh import Mesh

        if len(mesh.faces) == 0:
            return 0.0
        cams, alpha = splats if splats is not None else self._splat_silhouettes()
        solid = MeshRenderer()(Mesh.from_trimesh(mesh, color_mode="vertex").to(self.scene_device), cams,
                               (0.0, 0.0, 0.0)).alpha > 0.5
        return float((alpha & solid).sum() / (alpha | solid).sum().clamp_min(1))

    def asset(self, target_faces: int = 20000, texture_size: int = 1024):
        """The exported mesh: splat isosurface, decimated, textured from the nearest confident splats."""
        from lift3d.export.albedo_sources import albedo_from_gaussians
        from lift3d.export.asset import bake_asset

        s = self.scene
        colours = (s.sh[:, 0] * SH_C0 + 0.5).clamp(0, 1)
        albedo = albedo_from_gaussians(s.means.cpu(), colours.cpu(), s.opacities.reshape(-1).cpu())
        return bake_asset(self.mesh(), albedo, target_faces, texture_size)

    def export(self, directory: Path, options: AssetOptions | None = None) -> list[Path]:
        """Splats as a standard 3DGS .ply and its compressed SPZ, plus the textured mesh (GLB, OBJ, PLY)."""
        from lift3d.export.splat_files import write_splat_set

        directory.mkdir(parents=True, exist_ok=True)
        return [*write_splat_set(self.scene, directory), *write_asset_or_warn(self, directory, options)]
