"""Exported files as a viewer source: splats through the Gaussian renderer, a mesh through the mesh rasterizer
(lit like the procedural world); which reader opens a file is :mod:`lift3d.viewer.file_kinds`'s call.

Splat ``.ply`` files written by a run (``export/splats.ply``) are in lift3d's +Z-up world (``z_up``);
files converted by ``lift3d export`` default to ``y_down`` (pass ``--splat-axes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from lift3d.export.cli import ExportFormat
from lift3d.export.splats import SplatAxes
from lift3d.types import LiftError
from lift3d.viewer.file_kinds import MESH_SUFFIXES, READABLE, conversions, is_splats, read_splats
from lift3d.viewer.modes import RenderMode
from lift3d.viewer.orbit import Orbit
from lift3d.viewer.query import export_formats
from lift3d.viewer.source_base import WHITE, Scene, check_version


class FileSource:
    """Exported splat or mesh files, one version each; ``run_dir``: the run folder they came from, if any."""

    def __init__(self, paths: list[Path], splat_axes: SplatAxes = "z_up", run_dir: Path | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.splat_axes = splat_axes
        self.scenes = [load_file(p, splat_axes) for p in self.paths]
        self.title = ", ".join(p.name for p in self.paths)
        self.target, self.radius = self.scenes[0].target, self.scenes[0].radius
        self.run_dir = run_dir
        self._conversions = [conversions(p) for p in self.paths]

    def versions(self) -> list[str]:
        return [p.name for p in self.paths]

    def render(self, version: int, orbit: Orbit, mode: RenderMode = "rgb") -> torch.Tensor:
        check_version(version, self.versions())
        return self.scenes[version].image(orbit, mode)

    def formats(self) -> list[ExportFormat]:
        return [f for f in export_formats() if any(f in offered for offered in self._conversions)]

    def export(self, version: int, formats: Sequence[ExportFormat] = ()) -> list[Path]:
        from lift3d.viewer.exports import export_file_formats

        check_version(version, self.versions())
        path = self.paths[version]
        if not formats:
            raise LiftError(f"{path.name} is already an exported file; choose the formats to convert it to")
        return export_file_formats(path, self.splat_axes, formats)

    def status(self) -> dict:
        return {}


def load_file(path: Path, splat_axes: SplatAxes = "z_up") -> Scene:
    """A file's :class:`Scene` (render function and bounding sphere)."""
    path = Path(path)
    if not path.is_file():
        raise LiftError(f"{path} does not exist (or is not a file); pass a run folder, {READABLE}")
    if is_splats(path):
        return _splat_scene(path, splat_axes)
    if path.suffix.lower() in MESH_SUFFIXES:
        return _mesh_scene(path)
    raise LiftError(f"cannot view {path.name}: use a run folder, {READABLE}")


def _splat_scene(path: Path, axes: SplatAxes) -> Scene:
    from lift3d.renderers.gaussians import GaussianRenderer

    data = read_splats(path, axes)
    if len(data) == 0:
        raise LiftError(f"{path} holds no splats")
    scene = data.to_gaussians()
    renderer = GaussianRenderer()
    weights = torch.sigmoid(scene.opacities.detach()) if scene.opacities.min() < 0 else scene.opacities.detach()
    means = scene.means.detach()
    centre = (means * weights[:, None]).sum(0) / weights.sum().clamp_min(1e-8)
    radius = float(torch.quantile((means - centre).norm(dim=-1), 0.98)) + 1e-3
    return Scene(lambda cameras: renderer(scene, cameras, WHITE), tuple(centre.tolist()), radius)


def _mesh_scene(path: Path) -> Scene:
    from lift3d.export.formats import load_mesh
    from lift3d.renderers.mesh import MeshRenderer
    from lift3d.rigs.base import FixedLight
    from lift3d.rigs.mesh import lit_config
    from lift3d.scenes.mesh import Mesh

    try:
        mesh = Mesh.from_trimesh(load_mesh(path), optimize_vertices=False)
    except LiftError:
        raise
    except Exception as e:
        raise LiftError(f"cannot read {path} as a mesh ({type(e).__name__}: {e}); the file may be corrupt") from None
    renderer = MeshRenderer(lit_config(FixedLight()))
    v = mesh.vertices.detach()
    centre = (v.min(0).values + v.max(0).values) / 2
    radius = float((v - centre).norm(dim=-1).max()) + 1e-3
    return Scene(lambda cameras: renderer(mesh, cameras, WHITE), tuple(centre.tolist()), radius)
