"""lift3d reconstruct: each mode on tiny models, and the optimize stage fitting a reference view."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from test_recon_model import TINY

from lift3d.export.asset import AssetOptions
from lift3d.pipelines.reconstruct import (
    REFINE,
    OptimizeConfig,
    ReconstructConfig,
    main,
    optimize_gaussians,
    reconstruct,
)
from lift3d.recon.camera import INPUT_ELEVATION, input_camera
from lift3d.recon.inference import at_elevation, feedforward, load_model
from lift3d.rigs.base import Regularizers
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    """A procedural red cube from the canonical input camera, ``[24, 24, 4]``."""
    from lift3d.data import procedural_object, render_object

    out = render_object(procedural_object("cube", "red", seed=1), input_camera(24))
    return torch.cat([out.rgb[0], out.alpha[0]], -1)


@pytest.fixture(scope="module")
def files(tmp_path_factory, reference):
    root = tmp_path_factory.mktemp("recon")
    TINY.build().save_pretrained(root / "model")
    Image.fromarray((reference.numpy() * 255).round().astype(np.uint8), "RGBA").save(root / "cube.png")
    return root


def test_optimize_fits_the_reference_view(reference) -> None:
    scene = Gaussians.random_ball(300, 0.5, torch.Generator().manual_seed(0), sh_degree=0, opacity=0.1)
    cam = input_camera(24)
    from lift3d.renderers.gaussians import GaussianRenderer

    def psnr(s) -> float:
        with torch.no_grad():
            out = GaussianRenderer()(s, cam)
        return -10 * math.log10(torch.nn.functional.mse_loss(out.rgb[0], reference[..., :3]).item())

    before = psnr(scene)
    rig = optimize_gaussians(scene, reference, OptimizeConfig(steps=60, novel_views=0), torch.Generator().manual_seed(0),
                             anchor=False)
    after = psnr(rig.scene)
    assert after > before + 6 and after > 20, (before, after)


def test_anchor_keeps_means_near_init(reference) -> None:
    scene = Gaussians.random_ball(100, 0.5, torch.Generator().manual_seed(0), sh_degree=0, opacity=0.1)
    init = scene.means.detach().clone()
    cfg = OptimizeConfig(steps=10, novel_views=0, anchor_weight=1e4)
    rig = optimize_gaussians(scene, reference, cfg, torch.Generator().manual_seed(0), anchor=True)
    free = optimize_gaussians(Gaussians.random_ball(100, 0.5, torch.Generator().manual_seed(0), sh_degree=0,
                                                    opacity=0.1), reference, cfg, torch.Generator().manual_seed(0),
                              anchor=False)
    assert (rig.scene.means - init).norm(dim=-1).mean() < 0.5 * (free.scene.means - init).norm(dim=-1).mean()


def _run(files, tmp_path, mode, **kw):
    cfg = ReconstructConfig(image=files / "cube.png", mode=mode, model=files / "model", resolution=16,
                            turntable_frames=2, quiet=True, output=tmp_path / mode.replace("+", "_"),
                            asset=AssetOptions(texture_size=0), **kw)
    return reconstruct(cfg)


def test_feedforward_mode(files, tmp_path) -> None:
    run = _run(files, tmp_path, "feedforward")
    assert (run / "export" / "splats.ply").is_file()
    assert (run / "media" / "input.png").is_file()
    assert list((run / "media").glob("turntable.*"))


def test_optimize_mode_without_prior(files, tmp_path) -> None:
    run = _run(files, tmp_path, "optimize", prior=None, optimize=OptimizeConfig(steps=3, num_points=200, novel_views=1,
                                                                       regularizers=Regularizers(entropy=0.01)))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and "entropy" in rows[0] and "guidance" not in rows[0]
    assert (run / "export" / "splats.ply").is_file()


def test_refine_mode_with_prior(files, tmp_path, tiny_bundled_prior) -> None:
    from lift3d.pipelines.prior_specs import BundledPriorSpec

    run = _run(files, tmp_path, "feedforward+refine", prior=BundledPriorSpec(path=tiny_bundled_prior),
               prompt="a red cube", refine=replace(REFINE, steps=2, novel_views=1, novel_resolution=16))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"guidance", "anchor", "reference", "reference_mask"} <= rows[0].keys()


@pytest.fixture(scope="module")
def tiny_novel_view(tmp_path_factory) -> str:
    """A random tiny bundled-layout novel-view prior (16 px, Zero123 folder without vae/)."""
    from lift3d.priors.bundled_novel_view import NovelViewArchitecture, save_novel_view
    from lift3d.train.novel_view import NovelViewNet

    arch = NovelViewArchitecture(resolution=16, block_out_channels=(16, 32), embed_dim=16, encoder_width=16,
                                 encoder_layers=1)
    torch.manual_seed(0)
    net = NovelViewNet(arch)
    path = tmp_path_factory.mktemp("novel_view") / "prior"
    save_novel_view(path, arch, net.unet, net.image_encoder, net.cc_projection, arch.scheduler())
    return str(path)


def test_reference_conditions_pose_and_image(tiny_novel_view, reference) -> None:
    """The input image is the concatenated reference (pixel space, [-1, 1]) and each rendered camera's pose is
    relative to the canonical input camera: the input camera itself has zero rotation."""
    from lift3d.cameras import Cameras
    from lift3d.pipelines.prior_specs import NovelViewPriorSpec, ReferenceConditions
    from lift3d.priors.zero123 import ReferenceView

    prior = NovelViewPriorSpec(model=tiny_novel_view).build(torch.device("cpu"))
    ref_cam = input_camera(16)
    rc = ReferenceConditions(prior, reference[None], ReferenceView.from_camera(ref_cam))
    el, az, dist = ref_cam.spherical()
    cams = Cameras.from_spherical(torch.cat([el, el + 30]), torch.cat([az, az + 90]), torch.cat([dist, dist]),
                                  ref_cam.fov_y_deg.expand(2), 16)
    cond = rc.conditions(cams)
    assert cond.text.shape[0] == cond.image.shape[0] == cond.camera.shape[0] == 2
    torch.testing.assert_close(cond.camera[0, :3], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(cond.camera[1, :3], torch.tensor([-math.pi / 6, 1.0, 0.0]), atol=1e-5, rtol=0)
    white = reference[..., :3] * reference[..., 3:] + 1 - reference[..., 3:]
    expected = torch.nn.functional.interpolate(white.permute(2, 0, 1)[None], size=(16, 16), mode="bilinear",
                                               align_corners=False) * 2 - 1
    torch.testing.assert_close(cond.image[:1], expected, atol=1e-5, rtol=0)
    assert torch.count_nonzero(cond.uncond) == 0


def test_refine_mode_with_the_image_conditioned_prior(files, tmp_path, tiny_novel_view) -> None:
    """No prompt needed: the guidance is conditioned on the input image; the guidance term is in the loss."""
    from lift3d.pipelines.prior_specs import NovelViewPriorSpec

    run = _run(files, tmp_path, "feedforward+refine", prior=NovelViewPriorSpec(model=tiny_novel_view),
               refine=replace(REFINE, steps=2, novel_views=2, novel_resolution=16),
               optimize=OptimizeConfig(steps=5))  # --optimize.* are the optimize mode's, unused here
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"guidance", "anchor", "reference", "reference_mask"} <= rows[0].keys()
    assert all(r["guidance"] != 0 for r in rows)
    assert (run / "export" / "splats.ply").is_file()


def test_default_refinement_is_guided_by_the_shipped_novel_view_prior(files, tmp_path) -> None:
    from lift3d.pipelines.prior_specs import NovelViewPriorSpec

    cfg = ReconstructConfig()
    assert cfg.prior == NovelViewPriorSpec() and cfg.refine == REFINE and cfg.refine.guidance.guidance_scale == 3.0
    assert cfg.refine.guidance.timesteps.t_max == 0.3 and cfg.refine.lr.opacities < cfg.optimize.lr.opacities
    run = _run(files, tmp_path, "feedforward+refine", refine=replace(REFINE, steps=1, novel_views=1))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["guidance"] != 0


def test_prior_needs_prompt(files, tmp_path) -> None:
    from lift3d.pipelines.prior_specs import BundledPriorSpec

    with pytest.raises(LiftError, match="prompt"):
        _run(files, tmp_path, "optimize", prior=BundledPriorSpec())


def test_missing_model_is_clear(files, tmp_path) -> None:
    with pytest.raises(LiftError, match="train-recon"):
        reconstruct(ReconstructConfig(image=files / "cube.png", mode="feedforward", model=tmp_path / "none",
                                      output=tmp_path / "x", quiet=True))


def test_cli_positional_image(files, tmp_path) -> None:
    main([str(files / "cube.png"), "--mode", "feedforward", "--model", str(files / "model"), "--resolution", "16",
          "--turntable-frames", "2", "--output", str(tmp_path / "cli"), "--quiet"])
    assert (tmp_path / "cli" / "export" / "splats.ply").is_file()


def test_input_json_records_the_framing(files, tmp_path) -> None:
    """An off-centre square (x 60..80, y 8..28 of a 96 x 64 RGBA image): input.json holds its exact box and the
    mapping that centres it in media/input.png, and the elevation."""
    a = np.zeros((64, 96, 4), np.uint8)
    a[8:28, 60:80] = (20, 200, 20, 255)
    Image.fromarray(a, "RGBA").save(tmp_path / "square.png")
    cfg = ReconstructConfig(image=tmp_path / "square.png", mode="feedforward", model=files / "model", resolution=16,
                            turntable_frames=0, quiet=True, output=tmp_path / "run", asset=AssetOptions(texture_size=0))
    run = reconstruct(cfg)
    record = json.loads((run / "input.json").read_text())
    assert record["size"] == [96, 64] and record["bbox"] == [60, 8, 80, 28] and record["mask_source"] == "alpha"
    assert record["image"] == str(tmp_path / "square.png") and record["mask"] is None
    assert record["elevation"] == INPUT_ELEVATION and record["resolution"] == 16 and record["recentred"]
    s = 16 * 0.54 / 20
    assert record["scale"] == [pytest.approx(s), pytest.approx(s)]
    assert record["offset"] == [pytest.approx(8 - 70 * s), pytest.approx(8 - 18 * s)]  # box centre -> image centre
    assert (run / record["framed_image"]).is_file()


def _capture_reference_cameras(monkeypatch) -> tuple[list, list]:
    """Record the camera of every ReferenceTerm and the view of every ReferenceConditions built."""
    from lift3d.pipelines import prior_specs
    from lift3d.pipelines.terms import reference as reference_module

    cameras: list = []
    views: list = []

    class Term(reference_module.ReferenceTerm):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            cameras.append(self.camera)

    class Conditions(prior_specs.ReferenceConditions):
        def __init__(self, prior, image, view, *args, **kwargs) -> None:
            views.append(view)
            super().__init__(prior, image, view, *args, **kwargs)

    monkeypatch.setattr(reference_module, "ReferenceTerm", Term)
    monkeypatch.setattr(prior_specs, "ReferenceConditions", Conditions)
    return cameras, views


def test_elevation_sets_the_reference_camera(files, tmp_path, reference, tiny_novel_view, monkeypatch) -> None:
    from lift3d.pipelines.prior_specs import NovelViewPriorSpec

    cameras, views = _capture_reference_cameras(monkeypatch)
    scene = Gaussians.random_ball(50, 0.5, torch.Generator().manual_seed(0), sh_degree=0, opacity=0.1)
    optimize_gaussians(scene, reference, OptimizeConfig(steps=0, novel_views=0), torch.Generator(), anchor=False)
    run = _run(files, tmp_path, "feedforward+refine", prior=NovelViewPriorSpec(model=tiny_novel_view), elevation=-15.0,
               refine=replace(REFINE, steps=1, novel_views=1, novel_resolution=16))
    default, given = (float(c.spherical()[0][0]) for c in cameras)
    assert default == pytest.approx(INPUT_ELEVATION, abs=1e-4) and given == pytest.approx(-15.0, abs=1e-4)
    assert len(views) == 1 and views[0].elevation_deg == pytest.approx(-15.0, abs=1e-4)
    assert json.loads((run / "input.json").read_text())["elevation"] == -15.0


@pytest.mark.parametrize("elevation", [-30.0, 65.0])
def test_feedforward_rotation_is_exact(files, reference, elevation) -> None:
    """The rotated Gaussians seen from the input camera at ``elevation`` look exactly as the model's own Gaussians
    from the canonical camera (the model's prediction, and anisotropic degree-2 SH Gaussians)."""
    from lift3d.renderers.gaussians import GaussianRenderer

    predicted = feedforward(load_model(files / "model", torch.device("cpu")), reference)
    random = Gaussians.random_ball(200, 0.6, torch.Generator().manual_seed(3), sh_degree=2, opacity=0.5)
    random.params["shN"].data.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(4))
    render = GaussianRenderer()
    for scene in (predicted, random):
        with torch.no_grad():
            canonical = render(scene, input_camera(24))
            rotated = render(at_elevation(scene, elevation), input_camera(24, elevation))
        assert not torch.equal(at_elevation(scene, elevation).means, scene.means)
        torch.testing.assert_close(rotated.rgb, canonical.rgb, atol=1e-5, rtol=0)
        torch.testing.assert_close(rotated.alpha, canonical.alpha, atol=1e-5, rtol=0)
    assert at_elevation(predicted, INPUT_ELEVATION) is predicted


@pytest.mark.parametrize("elevation", [95.0, -80.5, float("nan")])
def test_bad_elevation_is_refused_in_one_line(files, tmp_path, elevation) -> None:
    with pytest.raises(LiftError) as e:
        _run(files, tmp_path, "feedforward", elevation=elevation)
    assert "-80..80" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "feedforward").exists()
