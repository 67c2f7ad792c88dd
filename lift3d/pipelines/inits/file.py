"""Seed the first stage of ``lift3d generate`` from an existing asset (``init:file --init.path PATH``).

A splat ``.ply`` starts a Gaussians stage and a mesh (``.glb``/``.obj``/``.ply``) starts a mesh stage, so a
feed-forward result of ``lift3d reconstruct`` (or any earlier run) can be refined with any guidance:

    lift3d generate "a red cube" init:file --init.path outputs/reconstruct/cube/RUN stage.scene:gaussians
    lift3d generate "a red cube" init:file --init.path RUN/export/mesh.glb stage.scene:mesh

A run folder means its ``export/splats.ply`` (Gaussians stage) or ``export/mesh.glb`` (mesh stage). Splat
files written by lift3d runs are in lift3d's +Z-up world (``--init.axes z_up``, the default); files from
``lift3d export`` or other tools use the 3DGS y-down convention (``--init.axes y_down``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lift3d.export.splats import SplatAxes, is_3dgs_ply
from lift3d.pipelines.inits.base import InitContext, Start
from lift3d.types import LiftError

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")


@dataclass(frozen=True)
class FileInit:
    """Start the first stage from a splat file, a mesh, or a run folder's export (``init:file``)."""

    KIND = "file"
    path: Path = Path("")
    """A splat .ply (Gaussians stage), a mesh (mesh stage) or a run folder of reconstruct/generate (its export/)."""
    axes: SplatAxes = "z_up"
    """Axes of a splat file: z_up for lift3d run exports, y_down for 3DGS files from other tools."""

    def check(self, scene: Any) -> None:
        init_file(self.path, scene)

    def start(self, ctx: InitContext) -> Start:
        return Start(build_initial_rig(ctx.scene, self.path, self.axes, ctx.device, ctx.prior_spec.light))

    def restore(self, ctx: InitContext, saved_terms: dict[str, Any]) -> Start:
        return Start(None)

    def source_prompt(self) -> str | None:
        """The prompt of the run the file comes from, when it is a run folder with one."""
        config = self.path / "config.json"
        if not config.is_file():
            return None
        try:
            return str(json.loads(config.read_text())["config"].get("prompt", "")).strip() or None
        except (OSError, ValueError, KeyError, AttributeError):
            return None


def init_file(init: Path, scene: Any) -> Path:
    """The file ``init`` names for a stage of ``scene`` (a run folder resolves to its export); checks kinds."""
    from lift3d.rigs.gaussians import GaussianScene
    from lift3d.rigs.mesh import MeshScene

    gaussians = isinstance(scene, GaussianScene)
    if not gaussians and not isinstance(scene, MeshScene):
        raise LiftError(f"init:file seeds a Gaussians or mesh stage, not {type(scene).__name__}; "
                        "add stage.scene:gaussians (splats) or stage.scene:mesh (a mesh)")
    if not str(init) or str(init) == ".":
        raise LiftError("init:file needs --init.path: a splat .ply, a mesh, or a run folder with export/")
    if init.is_dir():
        init = init / "export" / ("splats.ply" if gaussians else "mesh.glb")
    if not init.is_file():
        raise LiftError(f"--init.path {init} does not exist; pass a splat .ply, a mesh, or a run folder with export/")
    if gaussians:
        if init.suffix.lower() != ".ply" or not is_3dgs_ply(init):
            raise LiftError(f"--init.path {init} is not a 3DGS splat .ply; a Gaussians stage starts from splats")
    elif init.suffix.lower() not in MESH_SUFFIXES or (init.suffix.lower() == ".ply" and is_3dgs_ply(init)):
        raise LiftError(f"--init.path {init} is not a mesh (.glb/.obj/.ply); a mesh stage starts from a mesh")
    return init


def build_initial_rig(scene: Any, init: Path, axes: SplatAxes, device: Any, light: Any = None) -> Any:
    """The first stage's rig built from the asset at ``init`` (resolved by :func:`init_file`)."""
    from lift3d.export.formats import load_mesh
    from lift3d.export.splats import load_3dgs_ply
    from lift3d.rigs.gaussians import GaussianRig, GaussianScene

    path = init_file(init, scene)
    if isinstance(scene, GaussianScene):
        try:
            splats = load_3dgs_ply(path, axes=axes)
        except LiftError:  # already one line naming the file and the fix
            raise
        except (ValueError, KeyError) as e:
            raise LiftError(f"--init.path {path}: cannot read splats ({e})") from None
        return GaussianRig(scene, splats.to_gaussians().to(device))
    return scene.build_from(load_mesh(path), device, light)
