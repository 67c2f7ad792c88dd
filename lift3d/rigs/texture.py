"""The texture rig: a mesh whose geometry is fixed and whose UV texture is optimized by guidance, as the texture
stage of Latent-Paint ("Latent-NeRF for Shape-Guided Generation of 3D Shapes and Textures", Metzer et al., arXiv
2211.07600: an xatlas-unwrapped texture on a fixed mesh, optimized by score distillation, lr 1e-2) and the
appearance stage of Fantasia3D (arXiv 2303.13873: frozen geometry, only appearance learned).

Differences: the texture is an RGB image (the prior's pixels; Latent-Paint optimizes a 4-channel latent
texture for Stable Diffusion's VAE) and is the base colour itself: the guidance sees it under the prior's fixed
light (Lambert, view-independent; ``lit=False`` renders it unlit), and the export and scores read it unlit, so
what is learned is directly a base-colour map. The mesh keeps its own UVs (a GLB/OBJ with texture coordinates)
or is unwrapped by xatlas when it has none (vertices split at chart seams; faces and their order are kept); it is
never decimated. The texture is sampled bilinearly at the interpolated UVs by the mesh rasterizer
(:func:`lift3d.renderers.mesh.render_mesh`, ``grid_sample`` with border padding: UVs outside [0, 1] clamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.export.asset import AssetOptions
from lift3d.renderers.mesh import MeshRenderer, MeshRendererConfig
from lift3d.rigs.base import FixedLight, OptimizerRig
from lift3d.rigs.mesh import lit_config
from lift3d.scenes.mesh import Mesh
from lift3d.types import LiftError, RenderOutput

TEXTURE_COPIES = 8
"""Float32 copies of the texture a step holds (parameter, gradient, Adam's two moments, the clamped image, the
sampling gradient, the checkpoint's copy and slack): the memory estimate of :func:`texture_bytes`."""


def texture_bytes(size: int) -> int:
    """Estimated bytes of optimizing a ``size x size`` RGB float texture and its coarser levels (a third more)."""
    return TEXTURE_COPIES * size * size * 3 * 4 * 4 // 3


def mesh_uv(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices [V, 3], faces [F, 3], uv [V, 2])`` of a ``trimesh.Trimesh``: its own UVs when it has one per
    vertex, else an xatlas unwrap (vertices split at seams; the faces, in their order, keep their corners)."""
    uv = getattr(mesh.visual, "uv", None)
    vertices, faces = np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int64)
    if uv is not None and len(uv) == len(vertices) and np.isfinite(uv).all():
        return vertices, faces, np.asarray(uv, np.float32)
    from lift3d.export.uv_bake import unwrap_uv

    vmap, new_faces, new_uv = unwrap_uv(vertices, faces)
    return vertices[vmap], new_faces, new_uv


@dataclass(frozen=True)
class TextureScene:
    """A fixed mesh with an optimized UV texture (``lift3d texture``; needs a mesh to start from)."""

    KIND = "texture"
    texture_size: int = 512
    """Side of the square texture in texels."""
    lr: float = 1e-2
    """Adam learning rate of the texels (Latent-Paint's 1e-2)."""
    initial_colour: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Every texel's starting colour."""
    lit: bool = True
    """Render for the guidance under the prior's light (Lambert, view-independent: the shading the bundled prior
    was trained on), else unlit; either way the optimized texture is the base colour (albedo), which is what is
    exported and scored. Measured in docs/edit.md: unlit renders against the lit-trained bundled prior learn a
    texture about half as bright as the prompt's colour."""
    levels: int = 7
    """Resolution levels of the texture (:class:`~lift3d.scenes.mesh.Mesh`'s ``texture_levels``: the texture plus
    coarser ones, half the size each, summed), so a render far smaller than the texture still moves the colour of
    whole regions each step; 1: the plain texture. Measured in docs/edit.md."""

    def cannot_start_fresh(self) -> str | None:
        return "a texture stage needs a mesh: lift3d texture MESH \"prompt\", or put it after a coarse stage"

    def build(self, generator: torch.Generator, device: torch.device, light: FixedLight | None = None) -> TextureRig:
        raise LiftError(self.cannot_start_fresh())

    def build_from(self, mesh, device: torch.device, light: FixedLight | None = None) -> TextureRig:
        """Texture ``mesh`` (a ``trimesh.Trimesh``, lift3d's +Z-up frame) with a fresh texture."""
        if mesh is None or len(mesh.faces) == 0:
            raise LiftError("the mesh has no faces; a texture needs a surface to lie on")
        vertices, faces, uv = mesh_uv(mesh)
        size = self.texture_size
        texture = torch.tensor(self.initial_colour, dtype=torch.float32).expand(size, size, 3).contiguous()
        scene = Mesh(torch.from_numpy(vertices), torch.from_numpy(faces), uv=torch.from_numpy(uv), texture=texture,
                     optimize_vertices=False, texture_levels=self.levels)
        return TextureRig(self, scene.to(device), light)

    def refines(self, previous: object) -> str | None:
        """Any scene with a surface can be textured: None."""
        return None

    def build_from_previous(self, previous, generator: torch.Generator, device: torch.device,
                            light: FixedLight | None = None) -> TextureRig:
        """A texture stage over the previous stage's extracted surface; a texture rig's own mesh, UVs and
        texture are continued as they are."""
        if isinstance(previous, TextureRig):
            s = previous.scene
            scene = Mesh(s.base_vertices, s.faces, uv=s.uv, texture=s.texture_image().detach(), optimize_vertices=False,
                         texture_levels=self.levels)
            return TextureRig(self, scene.to(device), light)
        return self.build_from(previous.mesh(), device, light)

    def build_from_state(self, state: dict, generator: torch.Generator, device: torch.device,
                         light: FixedLight | None = None) -> TextureRig:
        """The rig of a checkpoint (geometry, UVs and texture from the saved buffers)."""
        s = state["scene"]
        levels = 1 + sum(k.startswith("texture_coarse.") for k in s)  # as saved (a run from before levels: 1)
        scene = Mesh(s["base_vertices"], s["faces"], uv=s["uv"], texture=s["texture"], optimize_vertices=False,
                     texture_levels=levels)
        rig = TextureRig(self, scene.to(device), light)
        rig.load_state(state)
        return rig


class TextureRig(OptimizerRig):
    """A fixed mesh, its unlit rasterizer and an Adam optimizer over the texture alone."""

    def __init__(self, spec: TextureScene, scene: Mesh, light: FixedLight | None = None) -> None:
        self.spec, self.scene = spec, scene
        self.renderer = MeshRenderer(lit_config(light or FixedLight()) if spec.lit else
                                     MeshRendererConfig(shading="albedo"))
        self.unlit = MeshRenderer(MeshRendererConfig(shading="albedo"))
        self.optimizer = torch.optim.Adam([scene.texture, *scene.texture_coarse], lr=spec.lr)

    @property
    def scene_device(self) -> torch.device:
        return self.scene.faces.device

    @torch.no_grad()
    def rescale(self, centre: torch.Tensor, factor: float) -> None:
        """Map world point ``p`` to ``(p - centre) * factor`` (the geometry's only change, on request)."""
        self.scene.base_vertices.sub_(centre.to(self.scene.base_vertices)).mul_(factor)

    def render(self, cameras: Cameras, background, generator: torch.Generator | None, step: int = 0) -> RenderOutput:
        return self.renderer(self.scene, cameras.to(self.scene_device), background)

    def render_albedo(self, cameras: Cameras) -> RenderOutput:
        return self.unlit(self.scene, cameras.to(self.scene_device), (0.0, 0.0, 0.0))

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]:
        return {}

    def before_step(self, step: int, generator: torch.Generator) -> None:
        """Nothing before rendering."""

    def mesh(self):
        """The mesh with its UVs and current texture image (``trimesh.Trimesh``)."""
        return self.scene.to_trimesh()

    def asset(self, target_faces: int = 20000, texture_size: int = 1024):
        """The mesh as it is (every face, its UVs) with the optimized texture as a PBR base-colour map; the
        export options' face budget and bake size do not apply (nothing is decimated or re-baked)."""
        import trimesh
        from PIL import Image

        mesh = self.mesh()
        image = Image.fromarray((self.scene.texture_image().detach().cpu().numpy() * 255.0 + 0.5).astype(np.uint8))
        material = trimesh.visual.material.PBRMaterial(name="lift3d_texture", baseColorTexture=image,
                                                       metallicFactor=0.0, roughnessFactor=1.0)
        mesh.visual = trimesh.visual.TextureVisuals(uv=self.scene.uv.cpu().numpy(), material=material)
        return mesh

    def export(self, directory: Path, options: AssetOptions | None = None) -> list[Path]:
        """``mesh.glb``, ``mesh.obj`` (+ ``.mtl``, ``.png``) and ``mesh.ply`` (:func:`~lift3d.export.asset.write_asset`)."""
        from lift3d.export.asset import write_asset

        return write_asset(self.asset(), directory)


__all__ = ["TEXTURE_COPIES", "TextureRig", "TextureScene", "mesh_uv", "texture_bytes"]
