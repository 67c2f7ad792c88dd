"""Seed the first stage of ``lift3d generate`` from an existing asset (``--init``).

A splat ``.ply`` starts a Gaussians stage and a mesh (``.glb``/``.obj``/``.ply``) starts a mesh stage, so a
feed-forward result of ``lift3d reconstruct`` (or any earlier run) can be refined with any guidance:

    lift3d generate "a red cube" --init outputs/reconstruct/cube/RUN stage.scene:gaussians
    lift3d generate "a red cube" --init RUN/export/mesh.glb stage.scene:mesh

A run folder means its ``export/splats.ply`` (Gaussians stage) or ``export/mesh.glb`` (mesh stage). Splat
files written by lift3d runs are in lift3d's +Z-up world (``--init-axes z_up``, the default); files from
``lift3d export`` or other tools use the 3DGS y-down convention (``--init-axes y_down``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lift3d.export.splats import SplatAxes, is_3dgs_ply
from lift3d.types import LiftError

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")


def init_file(init: Path, scene) -> Path:
    """The file ``init`` names for a stage of ``scene`` (a run folder resolves to its export); checks kinds."""
    from lift3d.pipelines.rig_gaussians import GaussianScene
    from lift3d.pipelines.rig_mesh import MeshScene

    gaussians = isinstance(scene, GaussianScene)
    if not gaussians and not isinstance(scene, MeshScene):
        raise LiftError(f"--init seeds a Gaussians or mesh stage, not {type(scene).__name__}; "
                        "add stage.scene:gaussians (splats) or stage.scene:mesh (a mesh)")
    if init.is_dir():
        init = init / "export" / ("splats.ply" if gaussians else "mesh.glb")
    if not init.is_file():
        raise LiftError(f"--init {init} does not exist; pass a splat .ply, a mesh, or a run folder with export/")
    if gaussians:
        if init.suffix.lower() != ".ply" or not is_3dgs_ply(init):
            raise LiftError(f"--init {init} is not a 3DGS splat .ply; a Gaussians stage starts from splats")
    elif init.suffix.lower() not in MESH_SUFFIXES or (init.suffix.lower() == ".ply" and is_3dgs_ply(init)):
        raise LiftError(f"--init {init} is not a mesh (.glb/.obj/.ply); a mesh stage starts from a mesh")
    return init


def build_initial_rig(scene, init: Path, axes: SplatAxes, device: torch.device):
    """The first stage's rig built from the asset at ``init`` (resolved by :func:`init_file`)."""
    from lift3d.export.formats import load_mesh
    from lift3d.export.splats import load_3dgs_ply
    from lift3d.pipelines.rig_gaussians import GaussianRig, GaussianScene

    path = init_file(init, scene)
    if isinstance(scene, GaussianScene):
        try:
            splats = load_3dgs_ply(path, axes=axes)
        except LiftError:  # already one line naming the file and the fix
            raise
        except (ValueError, KeyError) as e:
            raise LiftError(f"--init {path}: cannot read splats ({e})") from None
        return GaussianRig(scene, splats.to_gaussians().to(device))
    return scene.build_from(load_mesh(path), device)
