"""lift3d reconstruct: each mode on tiny models, and the optimize stage fitting a reference view."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from test_recon_model import TINY

from lift3d.export.asset import AssetOptions
from lift3d.pipelines.reconstruct import OptimizeConfig, ReconstructConfig, main, optimize_gaussians, reconstruct
from lift3d.pipelines.rigs import Regularizers
from lift3d.recon.camera import input_camera
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
    run = _run(files, tmp_path, "optimize", optimize=OptimizeConfig(steps=3, num_points=200, novel_views=1,
                                                           regularizers=Regularizers(entropy=0.01)))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and "entropy" in rows[0] and "guidance" not in rows[0]
    assert (run / "export" / "splats.ply").is_file()


def test_refine_mode_with_prior(files, tmp_path, tiny_bundled_prior) -> None:
    from lift3d.pipelines.prior_specs import BundledPriorSpec

    run = _run(files, tmp_path, "feedforward+refine", prior=BundledPriorSpec(path=tiny_bundled_prior),
               prompt="a red cube", optimize=OptimizeConfig(steps=2, novel_views=1, novel_resolution=16))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"guidance", "anchor", "reference", "mask"} <= rows[0].keys()


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
