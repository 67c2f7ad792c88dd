"""Backgrounds: solid, random (generator), learned environment MLP, and compositing in the renderer."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.renderers.backgrounds import EnvironmentMLP, RandomBackground, SolidBackground, background_colors
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation

DIRS = torch.nn.functional.normalize(torch.randn(2, 4, 5, 3, generator=torch.Generator().manual_seed(0)), dim=-1)


def test_solid_background():
    out = SolidBackground((0.1, 0.5, 0.9))(DIRS)
    assert out.shape == DIRS.shape
    torch.testing.assert_close(out, torch.tensor([0.1, 0.5, 0.9]).expand_as(DIRS))
    with pytest.raises(ValueError, match="background colour"):
        SolidBackground((1.0, 2.0, 0.0))


def test_random_background_is_per_image_and_reproducible():
    a = RandomBackground()(DIRS, torch.Generator().manual_seed(4))
    b = RandomBackground()(DIRS, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert (a[0] == a[0, :1, :1]).all() and not torch.equal(a[0, 0, 0], a[1, 0, 0])
    assert ((a >= 0) & (a <= 1)).all()
    with pytest.raises(ValueError, match="Generator"):
        RandomBackground()(DIRS)


def test_environment_mlp_learns_direction_dependent_colour():
    env = EnvironmentMLP(num_frequencies=2, hidden_dim=16, generator=torch.Generator().manual_seed(0))
    dirs = torch.nn.functional.normalize(torch.randn(1, 16, 16, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    target = (dirs[..., 2:3] > 0).float().expand_as(dirs)  # sky white, ground black
    opt = torch.optim.Adam([g for group in env.param_groups(0.05) for g in group["params"]], lr=0.05)
    first = None
    for _ in range(150):
        loss = ((env(dirs) - target) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    out = env(dirs)
    assert ((out >= 0) & (out <= 1)).all()


def test_background_colors_forms():
    torch.testing.assert_close(background_colors(None, DIRS), torch.ones_like(DIRS))
    per_image = background_colors(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), DIRS)
    torch.testing.assert_close(per_image[1, 2, 3], torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"\[3\] or \[B, 3\]"):
        background_colors(torch.ones(4), DIRS)


def test_renderer_composites_background_where_empty():
    grid = DensityGrid(DensityGridConfig(resolution=8, activation=DensityActivation(bias=-100.0)))
    cams = Cameras.from_spherical(torch.zeros(2), torch.tensor([0.0, 90.0]), torch.full((2,), 3.0), 40.0, 6)
    renderer = VolumeRenderer(VolumeRendererConfig(num_samples=8))
    env = EnvironmentMLP(generator=torch.Generator().manual_seed(0))
    out = renderer(grid, cams, background=env)
    _, dirs = cams.rays()
    torch.testing.assert_close(out.rgb, env(dirs), atol=1e-6, rtol=0)
    out.rgb.sum().backward()
    assert all(p.grad is not None for p in env.parameters())
