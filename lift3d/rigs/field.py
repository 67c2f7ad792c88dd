"""The field rig: a density field (dense grid, hash grid or triplane) rendered by the volume renderer, as
DreamFusion ("DreamFusion: Text-to-3D using 2D Diffusion", arXiv 2209.14988) and Magic3D's coarse stage
(arXiv 2211.10440); Adam, opacity regularizers, marching-cubes extraction and a baked texture.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.config import choice
from lift3d.export.asset import AssetOptions
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.rigs.base import FixedLight, OptimizerRig, Regularizers, opacity_terms, write_asset_or_warn
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation, Field
from lift3d.scenes.hash_grid import HashGridConfig, HashGridField
from lift3d.scenes.shading import PointLights, orientation_loss
from lift3d.scenes.triplane import Triplane, TriplaneConfig
from lift3d.types import RenderOutput

Lighting = Literal["fixed", "random", "none"]


def fixed_lights(cameras: Cameras, light: FixedLight) -> PointLights:
    """``light`` as point lights far along its direction, one per camera."""
    d = torch.nn.functional.normalize(torch.tensor(light.direction, device=cameras.device), dim=0)
    B = len(cameras)
    return PointLights(positions=(d * 1e4).expand(B, 3), ambient=torch.full((B,), light.ambient, device=cameras.device))


BLOB = DensityActivation(kind="softplus", bias=-2.0, blob_scale=4.0, blob_std=0.35)
"""Density activation with DreamFusion's initial density blob at the centre. Its size matters: score
distillation with the bundled prior hardly changes an object's size. Measured (docs/generate.md): std 0.35
leaves "a red cube" at 55 % of the ground truth's silhouette area, std 0.5 at 85 %, but over the 10-prompt
benchmark std 0.5 scored retrieval 40 % and mean IoU 0.677 (step-3000 prior), below std 0.35's 60 % and
0.731 (step-2700 prior): round shapes overshoot their ground truth."""


@dataclass(frozen=True)
class FieldScene:
    """A density field (dense grid, hash grid or triplane) rendered by the volume renderer."""

    KIND = "field"
    field: choice(DensityGridConfig, HashGridConfig, TriplaneConfig) = DensityGridConfig(  # type: ignore[valid-type]
        resolution=48, activation=BLOB)
    """The field representation and its density activation."""
    renderer: VolumeRendererConfig = VolumeRendererConfig(num_samples=64)
    lr: float = 0.05
    lighting: Lighting | None = None
    """``fixed``: the procedural world's light; ``random``: DreamFusion's random point lights; ``none``: albedo;
    None: ``fixed`` for priors trained under that light (the bundled one), else ``random``."""
    textureless_prob: float = 0.0
    """Probability of a textureless (white albedo) shaded render per step (DreamFusion uses 0.5 late)."""
    occupancy_every: int = 16
    """Update the occupancy grid every N steps when ``renderer.occupancy`` is on."""
    regularizers: Regularizers = Regularizers(sparsity=0.02, entropy=0.05)

    def build(self, generator: torch.Generator, device: torch.device, light: FixedLight | None = None) -> FieldRig:
        """A fresh field; ``light`` (the prior's training light, if it has one) lights ``lighting=None``."""
        if isinstance(self.field, DensityGridConfig):
            scene: Field = DensityGrid(self.field, generator=generator)
        elif isinstance(self.field, HashGridConfig):
            scene = HashGridField(self.field, generator=generator)
        else:
            scene = Triplane(self.field, generator=generator)
        lighting = self.lighting or ("fixed" if light is not None else "random")
        return FieldRig(replace(self, lighting=lighting), scene.to(device), VolumeRenderer(self.renderer),
                        light or FixedLight())

    def build_from_previous(self, previous, generator: torch.Generator, device: torch.device,
                            light: FixedLight | None = None) -> FieldRig:
        """A refine stage continues the previous stage's field (same field settings, checked up front by
        :meth:`refines`) under this stage's renderer, learning rate and regularizers."""
        rig = self.build(generator, device, light)
        rig.scene.load_state_dict(previous.scene.state_dict())
        return rig

    def build_from_state(self, state: dict, generator: torch.Generator, device: torch.device,
                         light: FixedLight | None = None) -> FieldRig:
        """The rig of a checkpoint's ``state``."""
        rig = self.build(generator, device, light)
        rig.load_state(state)
        return rig

    def cannot_start_fresh(self) -> str | None:
        """None: a fresh scene is its own initialization."""
        return None

    def refines(self, previous: object) -> str | None:
        """Why this field cannot refine a stage of scene config ``previous`` (None: it can)."""
        if isinstance(previous, FieldScene) and previous.field == self.field:
            return None
        return ("a field refine stage continues the first stage's field, so it needs stage.scene:field with the "
                "same field settings; to refine another scene use refine.scene:mesh or refine.scene:gaussians")


class FieldRig(OptimizerRig):
    """A field, its volume renderer and its Adam optimizer."""

    def __init__(self, spec: FieldScene, scene: Field, renderer: VolumeRenderer, light: FixedLight | None = None) -> None:
        self.spec, self.scene, self.renderer, self.light = spec, scene, renderer, light or FixedLight()
        self.optimizer = torch.optim.Adam(scene.param_groups(spec.lr), betas=(0.9, 0.99), eps=1e-15)

    def _lights(self, cameras: Cameras, generator: torch.Generator | None) -> PointLights | None:
        if self.spec.lighting == "fixed":
            return fixed_lights(cameras, self.light)
        if self.spec.lighting == "random" and generator is not None:
            return PointLights.sample(cameras.positions, generator)
        return None

    def render(self, cameras: Cameras, background: tuple[float, float, float], generator: torch.Generator | None,
               step: int = 0) -> RenderOutput:
        """Training render (random jitter / lights / textureless) when ``generator`` is given, else deterministic."""
        lights = self._lights(cameras, generator)
        shading = "albedo" if lights is None else "lambertian"
        if lights is not None and generator is not None and self.spec.textureless_prob > 0:
            if torch.rand((), generator=generator).item() < self.spec.textureless_prob:
                shading = "textureless"
        bg = torch.tensor(background, device=cameras.device)
        return self.renderer(self.scene, cameras, bg, shading=shading, lights=lights, generator=generator)

    def render_albedo(self, cameras: Cameras) -> RenderOutput:
        """Unlit albedo over black, deterministic (evaluation)."""
        cams = cameras.to(self.scene_device)
        return self.renderer(self.scene, cams, torch.zeros(3, device=cams.device), shading="albedo")

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]:
        r, B = self.spec.regularizers, out.alpha.shape[0]
        pixels = out.alpha.shape[1] * out.alpha.shape[2]
        losses = opacity_terms(r, out)
        if r.total_variation and isinstance(self.scene, (DensityGrid, Triplane)):
            losses["total_variation"] = r.total_variation * self.scene.total_variation() * pixels
        if r.orientation and "orientation" in out.aux:
            losses["orientation"] = r.orientation * orientation_loss(out.aux["orientation"], out.alpha) * pixels / B
        return losses

    def before_step(self, step: int, generator: torch.Generator) -> None:
        if self.renderer.config.occupancy and step % self.spec.occupancy_every == 0:
            self.renderer.update_occupancy(self.scene, generator)

    @property
    def scene_device(self) -> torch.device:
        return self.scene.aabb.device

    @torch.no_grad()
    def rescale(self, centre: torch.Tensor, factor: float) -> None:
        """Map world point ``p`` to ``(p - centre) * factor``: the field lives in box coordinates, so its box
        (and the occupancy grid's, which covers the same box) moves, and its density is divided by ``factor`` so
        that every ray's optical depth, hence every render, is the same seen from the moved cameras."""
        shift = centre.to(self.scene.aabb).repeat(2)
        self.scene.aabb.copy_((self.scene.aabb - shift) * factor)
        self.scene.density_scale.div_(factor)
        if self.renderer.occupancy_grid is not None:
            self.renderer.occupancy_grid.aabb.copy_(self.scene.aabb)

    @torch.no_grad()
    def mesh(self, resolution: int = 128):
        """Marching-cubes mesh of the density (automatic level) with vertex albedo, lift3d's +Z-up frame."""
        from lift3d.export.mesh_cleanup import clean_mesh
        from lift3d.export.mesh_extract import extract_mesh

        mesh = clean_mesh(extract_mesh(self.scene.density, self.scene.aabb.cpu(), resolution))
        if len(mesh.vertices):
            pts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32, device=self.scene_device)
            rgb = self.scene.albedo(pts).clamp(0, 1).cpu().numpy()
            mesh.visual.vertex_colors = np.concatenate([rgb * 255, np.full((len(rgb), 1), 255)], 1).astype(np.uint8)
        return mesh

    def asset(self, target_faces: int = 20000, texture_size: int = 1024):
        """The exported mesh: marching cubes, decimation, xatlas UVs and the field's albedo baked."""
        from lift3d.export.asset import bake_asset

        def albedo(points: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return self.scene.albedo(points.to(self.scene_device)).clamp(0, 1).cpu()

        return bake_asset(self.mesh(), albedo, target_faces, texture_size)

    def export(self, directory: Path, options: AssetOptions | None = None) -> list[Path]:
        """The textured mesh as GLB and OBJ (+Y up) and PLY (+Z up)."""
        return write_asset_or_warn(self, directory, options)


