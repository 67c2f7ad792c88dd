"""The mesh rig: refine a mesh extracted from a coarse stage, as the second stages of
"Magic3D: High-Resolution Text-to-3D Content Creation" (arXiv 2211.10440) and DreamGaussian
(arXiv 2309.16653): fixed topology, optimizable vertex offsets and colours, Laplacian and
normal-consistency regularizers, rendered by the differentiable mesh rasterizer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from lift3d.cameras import Cameras
from lift3d.config import choice
from lift3d.export.asset import AssetOptions
from lift3d.renderers.mesh import MeshRenderer, MeshRendererConfig
from lift3d.rigs.base import FixedLight, OptimizerRig, write_asset_or_warn
from lift3d.scenes.large_steps import DifferentialSolve, LargeSteps
from lift3d.scenes.mesh import Mesh
from lift3d.scenes.mesh_regularizers import laplacian_smoothing_loss, normal_consistency_loss
from lift3d.types import LiftError, RenderOutput


def lit_config(light: FixedLight) -> MeshRendererConfig:
    """Lambert shading under ``light`` (diffuse ``1 - ambient``)."""
    return MeshRendererConfig(shading="lambert", light_direction=light.direction, ambient=light.ambient,
                              diffuse=1.0 - light.ambient)


@dataclass(frozen=True)
class MeshScene:
    """A triangle mesh refined from the previous stage's extracted surface (or from ``--init``)."""

    KIND = "mesh"
    lr_vertices: float = 2e-3
    lr_color: float = 2e-2
    max_faces: int = 6000
    """Decimate the starting mesh to at most this many faces."""
    laplacian: float = 50.0
    """Weight of the Laplacian smoothing term (per view, in pixel units like the guidance)."""
    normal_consistency: float = 20.0
    large_steps: choice(LargeSteps, type(None)) = None  # type: ignore[valid-type]
    """``large-steps:large-steps``: vertex offsets in Nicolet et al.'s smooth parameterization
    (:mod:`lift3d.scenes.large_steps`); None: plain per-vertex offsets."""
    renderer: MeshRendererConfig | None = None
    """Rasterizer settings; None: Lambert shading under the prior's training light (the bundled prior's procedural
    world), or :class:`~lift3d.rigs.base.FixedLight`'s default for priors without one."""

    def cannot_start_fresh(self) -> str | None:
        return ("a mesh first stage needs a mesh to start from: pass init:file --init.path MESH.glb, or put the mesh "
                "in a refine stage after a coarse one (refine:stage refine.scene:mesh)")

    def build(self, generator: torch.Generator, device: torch.device, light: FixedLight | None = None) -> MeshRig:
        raise LiftError(self.cannot_start_fresh())

    def build_from(self, mesh, device: torch.device, light: FixedLight | None = None) -> MeshRig:
        """Start from a ``trimesh.Trimesh`` (lift3d's +Z-up frame)."""
        from lift3d.export.mesh_cleanup import decimate

        if mesh is None or len(mesh.faces) == 0:
            raise LiftError("the previous stage produced no surface to refine; run the coarse stage longer "
                            "or lower the extraction level")
        if len(mesh.faces) > self.max_faces:
            mesh = decimate(mesh, self.max_faces)
        return MeshRig(self, Mesh.from_trimesh(mesh, color_mode="vertex").to(device), light)

    def refines(self, previous: object) -> str | None:
        """Any scene can be refined (from its Gaussians or its extracted surface): None."""
        return None

    def build_from_previous(self, previous, generator: torch.Generator, device: torch.device,
                            light: FixedLight | None = None) -> MeshRig:
        """A refine stage: the previous stage's extracted surface."""
        return self.build_from(previous.mesh(), device, light)

    def build_from_state(self, state: dict, generator: torch.Generator, device: torch.device,
                         light: FixedLight | None = None) -> MeshRig:
        """Rebuild the rig of a checkpoint (its topology comes from the saved buffers)."""
        s = state["scene"]
        rig = MeshRig(self, Mesh(s["base_vertices"], s["faces"], colors=s["colors"]).to(device), light)
        rig.load_state(state)
        return rig


class MeshRig(OptimizerRig):
    """Mesh, rasterizer, optimizer."""

    def __init__(self, spec: MeshScene, scene: Mesh, light: FixedLight | None = None) -> None:
        self.spec, self.scene = spec, scene
        if spec.large_steps is not None and spec.large_steps.strength > 0:
            scene.displace = DifferentialSolve(scene.faces, len(scene.base_vertices), spec.large_steps.strength)
        self.renderer = MeshRenderer(spec.renderer or lit_config(light or FixedLight()))
        self.optimizer = torch.optim.Adam(scene.param_groups(spec.lr_vertices, spec.lr_color))

    @property
    def scene_device(self) -> torch.device:
        return self.scene.faces.device

    @torch.no_grad()
    def rescale(self, centre: torch.Tensor, factor: float) -> None:
        """Map world point ``p`` to ``(p - centre) * factor`` (base vertices and their optimized offsets; the
        large-steps map is linear and depends only on the faces, so scaling its input scales its output)."""
        self.scene.base_vertices.sub_(centre.to(self.scene.base_vertices)).mul_(factor)
        self.scene.offsets.mul_(factor)

    def render(self, cameras: Cameras, background, generator: torch.Generator | None, step: int = 0) -> RenderOutput:
        return self.renderer(self.scene, cameras.to(self.scene_device), background)

    def render_albedo(self, cameras: Cameras) -> RenderOutput:
        unlit = MeshRenderer(replace(self.renderer.config, shading="albedo"))
        return unlit(self.scene, cameras.to(self.scene_device), (0.0, 0.0, 0.0))

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]:
        pixels = out.alpha.shape[1] * out.alpha.shape[2]
        v, f = self.scene.vertices, self.scene.faces
        losses = {}
        if self.spec.laplacian:
            losses["laplacian"] = self.spec.laplacian * laplacian_smoothing_loss(v, f) * pixels
        if self.spec.normal_consistency:
            losses["normal_consistency"] = (self.spec.normal_consistency
                                            * normal_consistency_loss(v, f, self.scene.neighbors) * pixels / 1000)
        return losses

    def before_step(self, step: int, generator: torch.Generator) -> None:
        """Nothing before rendering."""

    def mesh(self):
        return self.scene.to_trimesh()

    def asset(self, target_faces: int = 20000, texture_size: int = 1024):
        """The refined mesh; vertex colours are baked into a texture (a textured mesh is kept as is)."""
        from lift3d.export.asset import bake_asset

        return bake_asset(self.mesh(), None, target_faces, texture_size)

    def export(self, directory: Path, options: AssetOptions | None = None) -> list[Path]:
        return write_asset_or_warn(self, directory, options)
