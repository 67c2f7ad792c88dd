"""lift3d export RUN_DIR: a generate run's checkpoint becomes a textured mesh, splats or a turntable video."""

from pathlib import Path

import numpy as np
import pytest
import torch

from lift3d.export.asset import AssetOptions
from lift3d.export.cli import ExportConfig, run_export
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
from lift3d.pipelines.inits import RandomInit
from lift3d.pipelines.load import load_generate_run
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.renderers.volume import VolumeRendererConfig
from lift3d.rigs.field import BLOB, FieldScene
from lift3d.rigs.gaussians import GaussianScene
from lift3d.scenes.density_grid import DensityGridConfig
from lift3d.types import LiftError

FIELD = FieldScene(field=DensityGridConfig(resolution=16, activation=BLOB), renderer=VolumeRendererConfig(num_samples=24))


def _run(prior: Path, out: Path, scene) -> Path:
    stage = StageConfig(scene=scene, steps=2, resolution=16, views_per_step=1)
    (run,) = generate(GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), prior=BundledPriorSpec(prior), stage=stage, output=out,
                                     quiet=True, val_every=2, checkpoint_every=2, turntable_frames=2,
                                     asset=AssetOptions(texture_size=0)))
    return run


@pytest.fixture(scope="module")
def field_run(tiny_bundled_prior: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tiny_bundled_prior, tmp_path_factory.mktemp("field") / "run", FIELD)


def test_run_to_glb_bakes_the_field_albedo(field_run: Path) -> None:
    from lift3d.export.formats import load_mesh
    from lift3d.export.uv_bake import sample_texture

    (glb,) = run_export(ExportConfig(scene=field_run, format="glb", texture_size=256, target_faces=3000))
    assert glb == field_run / "export" / "asset.glb"
    mesh = load_mesh(glb)  # back in lift3d's +Z-up world
    assert 0 < len(mesh.faces) <= 3000 * 1.05
    texture = torch.from_numpy(np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"), np.float32) / 255)
    baked = sample_texture(texture, torch.as_tensor(np.asarray(mesh.visual.uv), dtype=torch.float32))
    _, rig = load_generate_run(field_run)
    with torch.no_grad():
        truth = rig.scene.albedo(torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32))
    assert (baked - truth).abs().mean() < 0.03  # 8-bit texture + bilinear texel lookup
    assert truth.std(0).max() > 0.01  # a random field: the comparison is not between constants


def test_run_to_video_and_no_silent_overwrite(field_run: Path) -> None:
    import imageio.v3 as iio

    cfg = ExportConfig(scene=field_run, format="video", frames=6, video_resolution=32)
    (mp4,) = run_export(cfg)
    frames = iio.imread(mp4)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (32, 32)
    assert frames.std() > 1.0  # the object is visible over the white background
    with pytest.raises(LiftError, match="already exists"):
        run_export(cfg)


def test_splats_from_a_field_run_is_a_clear_error(field_run: Path) -> None:
    with pytest.raises(LiftError, match="not Gaussians"):
        run_export(ExportConfig(scene=field_run, format="splat-ply"))


def test_gaussian_run_exports_standard_splats(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from lift3d.export.splats import load_3dgs_ply

    run = _run(tiny_bundled_prior, tmp_path / "run", GaussianScene(num_points=200, init_opacity=0.5))
    (ply,) = run_export(ExportConfig(scene=run, format="splat-ply", splat_axes="z_up"))
    splats = load_3dgs_ply(ply, axes="z_up")
    _, rig = load_generate_run(run)
    assert torch.allclose(splats.means, rig.scene.means.detach().cpu(), atol=1e-6)
    assert torch.allclose(splats.opacity_logits, rig.scene.params["opacities"].detach().cpu(), atol=1e-6)
    assert (run / "export" / "splats.ply").is_file() and (run / "export" / "mesh.glb").is_file()


def test_reconstruct_run_exports_from_its_splats(tmp_path: Path) -> None:
    """A reconstruct run saves no checkpoint: ``lift3d export`` reads its export/splats.ply (world axes)."""
    import json

    from lift3d.export.splats import load_3dgs_ply
    from lift3d.scenes.gaussians import Gaussians
    from lift3d.scenes.gaussians_ply import save_ply

    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"schema_version": 1, "config": {"_kind": "reconstruct"}}))
    with pytest.raises(LiftError, match="without export/splats.ply"):
        run_export(ExportConfig(scene=run, format="glb"))
    g = Gaussians.random_ball(300, 0.4, torch.Generator().manual_seed(0), sh_degree=0, opacity=0.9)
    save_ply(g, run / "export" / "splats.ply")
    (ply,) = run_export(ExportConfig(scene=run, format="splat-ply", splat_axes="z_up"))
    assert torch.equal(load_3dgs_ply(ply, axes="z_up").means, g.means.detach())
    (glb,) = run_export(ExportConfig(scene=run, format="glb", texture_size=32, target_faces=500))
    assert glb == run / "export" / "asset.glb" and glb.stat().st_size > 0


def test_half_written_run_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(LiftError, match="not a lift3d run folder"):
        run_export(ExportConfig(scene=tmp_path / "run", format="glb"))
