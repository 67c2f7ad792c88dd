"""Fitting Gaussians to views of a procedural object rendered by a different renderer (sphere tracer)."""

from __future__ import annotations

import math

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.data import procedural_object, render_object
from lift3d.renderers import GaussianRenderer
from lift3d.scenes import GaussianLearningRates, Gaussians
from lift3d.scenes.gaussians_strategy import GaussianOptimizer


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10.0 * math.log10(float(((a - b) ** 2).mean()))


@pytest.mark.slow
def test_fit_eight_views_generalises_to_held_out_views():
    obj = procedural_object("sphere", "red", seed=0)
    radius = obj.bounding_radius()

    def cams(az: list[float], el: list[float]) -> Cameras:
        return Cameras.from_spherical(torch.tensor(el), torch.tensor(az), torch.full((len(az),), 2.5), 40.0, 64)

    train = cams([45.0 * i for i in range(8)], [20.0 if i % 2 else -10.0 for i in range(8)])
    test = cams([22.5, 112.5, 200.0, 290.0], [5.0, 30.0, 10.0, -5.0])
    gt = render_object(obj, train)
    gt_test = render_object(obj, test).rgb

    gen = torch.Generator().manual_seed(0)
    scene = Gaussians.random_ball(1000, radius, gen, sh_degree=0, opacity=0.3)
    # 3DGS's rates are tuned for 30k steps; a few hundred steps need larger ones
    lr = GaussianLearningRates(means=3.2e-3, quats=5e-3, scales=2.5e-2, opacities=5e-2, sh0=2.5e-2)
    opt = GaussianOptimizer(scene, lr=lr, scene_scale=radius)
    renderer = GaussianRenderer()
    with torch.no_grad():
        before = psnr(renderer(scene, test).rgb, gt_test)
    for step in range(200):
        idx = torch.randperm(8, generator=gen)[:4]
        out = renderer(scene, train[idx])
        loss = (out.rgb - gt.rgb[idx]).abs().mean() + (out.alpha - gt.alpha[idx]).abs().mean()
        loss.backward()
        opt.step(step, out, train[idx])
    with torch.no_grad():
        after = psnr(renderer(scene, test).rgb, gt_test)
    print(f"held-out PSNR before {before:.2f} dB, after {after:.2f} dB")
    assert before < 12.0
    assert after >= 28.0, f"held-out PSNR {after:.2f} dB"
