"""CUDA backend of the volume renderer (nerfacc marcher) against the torch oracle."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation
from lift3d.scenes.shading import PointLights

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_marcher_matches_torch_backend():
    dev = torch.device("cuda")
    grid = DensityGrid(DensityGridConfig(resolution=32, activation=DensityActivation(bias=0.0)))
    axis = torch.linspace(-1, 1, 32)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    with torch.no_grad():
        grid.density_voxels.copy_(torch.where((x * x + y * y + z * z).sqrt() < 0.5, 10.0, -12.0)[None, None])
        grid.color_voxels.copy_(torch.stack([x, y, z])[None] * 2)
    grid = grid.to(dev)
    cams = Cameras.from_spherical(torch.zeros(2), torch.tensor([0.0, 120.0]), torch.full((2,), 3.0), 40.0, 24).to(dev)
    cfg = dict(num_samples=256, occupancy=True, occupancy_resolution=32, compute_normals=True)
    ref = VolumeRenderer(VolumeRendererConfig(**cfg, backend="torch"))
    ref.update_occupancy(grid)
    cuda = VolumeRenderer(VolumeRendererConfig(**cfg, backend="cuda"))
    cuda.occupancy_grid = ref.occupancy_grid
    lights = PointLights.sample(cams.positions, torch.Generator(device=dev).manual_seed(0))
    a = ref(grid, cams, shading="lambertian", lights=lights)
    b = cuda(grid, cams, shading="lambertian", lights=lights)
    # Marching steps differ slightly (nerfacc steps from t_near by a fixed size), so compare loosely.
    assert (a.alpha - b.alpha).abs().mean() < 5e-3
    assert (a.rgb - b.rgb).abs().mean() < 5e-3
    assert (a.depth - b.depth).abs().mean() < 2e-2
    b.rgb.sum().backward()
    assert grid.density_voxels.grad.abs().sum() > 0
