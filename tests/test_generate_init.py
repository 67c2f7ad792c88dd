"""lift3d generate --init: a splat file or mesh (e.g. from lift3d reconstruct) seeds the first stage."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from safetensors.torch import load_file

from lift3d.export.asset import AssetOptions
from lift3d.export.formats import save_glb
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
from lift3d.pipelines.inits import FileInit
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.rigs.field import FieldScene
from lift3d.rigs.gaussians import GaussianScene
from lift3d.rigs.mesh import MeshScene
from lift3d.scenes.gaussians import Gaussians
from lift3d.scenes.gaussians_ply import save_ply
from lift3d.types import LiftError


def _cfg(prior: Path, out: Path, scene, init: Path) -> GenerateConfig:
    stage = StageConfig(scene=scene, steps=1, resolution=16, views_per_step=1)
    return GenerateConfig(prompt="a red cube", prior=BundledPriorSpec(prior), stage=stage, output=out, quiet=True,
                          refine=None,
                          val_every=1, checkpoint_every=1, turntable_frames=2, asset=AssetOptions(texture_size=0),
                          init=FileInit(init))


def test_gaussians_stage_starts_from_a_reconstruct_run_folder(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    source = Gaussians.random_ball(123, 0.4, torch.Generator().manual_seed(3), 0, opacity=0.6)
    save_ply(source, tmp_path / "recon" / "export" / "splats.ply")  # the layout lift3d reconstruct writes
    (run,) = generate(_cfg(tiny_bundled_prior, tmp_path / "run", GaussianScene(densify=None), tmp_path / "recon"))
    state = load_file(str(run / "ckpt" / "step_00000001" / "state.safetensors"))
    means = state["rig.params.means"]
    assert means.shape == (123, 3)  # not the preset's 4000 random Gaussians
    assert (means - source.means.detach()).abs().max() < 0.01  # one Adam step (lr 1e-3) away from the file


def test_mesh_stage_starts_from_a_mesh_file(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    box = trimesh.creation.box((0.8, 0.8, 0.8))
    box.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(box.vertices), 1)).astype(np.uint8)
    glb = save_glb(box, tmp_path / "box.glb")
    (run,) = generate(_cfg(tiny_bundled_prior, tmp_path / "run", MeshScene(), glb))
    state = load_file(str(run / "ckpt" / "step_00000001" / "state.safetensors"))
    base = next(v for k, v in state.items() if k.endswith("base_vertices"))
    assert base.shape[0] == len(box.vertices)
    assert torch.allclose(base.abs().amax(0), torch.full((3,), 0.4), atol=1e-5)  # +Z-up world, same size


@pytest.mark.parametrize("scene, init, match", [
    (FieldScene(), "box.glb", "Gaussians or mesh stage"),
    (GaussianScene(), "box.glb", "not a 3DGS splat"),
    (MeshScene(), "missing.glb", "does not exist"),
])
def test_bad_init_fails_before_compute(scene, init: str, match: str, tmp_path: Path) -> None:
    save_glb(trimesh.creation.box(), tmp_path / "box.glb")
    cfg = _cfg(tmp_path / "no-prior", tmp_path / "run", scene, tmp_path / init)
    with pytest.raises(LiftError, match=match):
        generate(replace(cfg))
    assert not (tmp_path / "run").exists()
