"""Exported files as a viewer source: splats (3DGS ``.ply``, ``.compressed.ply``, ``.splat``, ``.spz``, ``.sog``,
SOG ``meta.json``; :func:`lift3d.export.splat_files.load_splats`) through the Gaussian renderer, a mesh
``.glb``/``.gltf``/``.obj``/``.ply`` through the mesh rasterizer (lit like the procedural world).

Splat ``.ply`` files written by a run (``export/splats.ply``) are in lift3d's +Z-up world (``z_up``);
files converted by ``lift3d export`` default to ``y_down`` (pass ``--splat-axes``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lift3d.export.splat_files import is_splat_file
from lift3d.export.splats import SplatAxes
from lift3d.types import LiftError
from lift3d.viewer.orbit import Orbit
from lift3d.viewer.source_base import WHITE, Scene, check_version

SPLAT_SUFFIXES = (".splat", ".spz", ".sog")
MESH_SUFFIXES = (".glb", ".gltf", ".obj")


class FileSource:
    """Exported splat or mesh files, one version each."""

    def __init__(self, paths: list[Path], splat_axes: SplatAxes = "z_up") -> None:
        self.paths = [Path(p) for p in paths]
        self.scenes = [load_file(p, splat_axes) for p in self.paths]
        self.title = ", ".join(p.name for p in self.paths)
        self.target, self.radius = self.scenes[0][1]

    def versions(self) -> list[str]:
        return [p.name for p in self.paths]

    def render(self, version: int, orbit: Orbit) -> torch.Tensor:
        check_version(version, self.versions())
        return self.scenes[version][0].render(orbit)

    def export(self, version: int) -> list[Path]:
        raise LiftError(f"{self.paths[version].name} is already an exported file; convert it with 'lift3d export'")

    def status(self) -> dict:
        return {}


def load_file(path: Path, splat_axes: SplatAxes = "z_up") -> tuple[Scene, tuple[tuple[float, float, float], float]]:
    """A file's :class:`Scene` and its bounding sphere ``((x, y, z), radius)``."""
    path = Path(path)
    if not path.is_file():
        raise LiftError(f"{path} does not exist (or is not a file); pass a run folder, splats (.ply/.splat/.spz/.sog) or a .glb/.obj")
    suffix = path.suffix.lower()
    if is_splat_file(path):
        return _splat_scene(path, splat_axes)
    if suffix in MESH_SUFFIXES or suffix == ".ply":
        return _mesh_scene(path)
    raise LiftError(f"cannot view {path.name}: use a run folder, splats (3DGS .ply, .compressed.ply, .splat, .spz, .sog, SOG meta.json) or a .glb/.gltf/.obj/.ply mesh")


def _splat_scene(path: Path, axes: SplatAxes):
    from lift3d.export.splat_files import load_splats
    from lift3d.renderers.gaussians import GaussianRenderer

    try:
        data = load_splats(path, axes)
    except LiftError:
        raise
    except Exception as e:  # plyfile raises many types on truncated/corrupt files
        raise LiftError(f"cannot read {path} as splats ({type(e).__name__}: {e}); the file may be corrupt") from None
    if len(data) == 0:
        raise LiftError(f"{path} holds no splats")
    scene = data.to_gaussians()
    renderer = GaussianRenderer()
    weights = torch.sigmoid(scene.opacities.detach()) if scene.opacities.min() < 0 else scene.opacities.detach()
    means = scene.means.detach()
    centre = (means * weights[:, None]).sum(0) / weights.sum().clamp_min(1e-8)
    radius = float(torch.quantile((means - centre).norm(dim=-1), 0.98)) + 1e-3

    @torch.no_grad()
    def render(orbit: Orbit) -> torch.Tensor:
        return renderer(scene, orbit.cameras(tuple(centre.tolist())), WHITE).rgb[0]

    return Scene(render), (tuple(centre.tolist()), radius)


def _mesh_scene(path: Path):
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

    @torch.no_grad()
    def render(orbit: Orbit) -> torch.Tensor:
        return renderer(mesh, orbit.cameras(tuple(centre.tolist())), WHITE).rgb[0]

    return Scene(render), (tuple(centre.tolist()), radius)


