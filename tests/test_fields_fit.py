"""Each field fits 8 views of a procedural object and generalises to held-out views (PSNR >= 26 dB).

The target is the data package's sphere-traced Lambert render with a world-fixed light, so it is
view-independent and can be fitted as albedo without lighting. Images are 32-48 px to stay fast on CPU.
"""

from __future__ import annotations

import time

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.data import procedural_object, render_object
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation, Field
from lift3d.scenes.hash_grid import HashEncodingConfig, HashGridConfig, HashGridField
from lift3d.scenes.triplane import Triplane, TriplaneConfig, TriplaneDecoderConfig

SIZE, RADIUS, DISTANCE, FOV = 32, 0.7, 2.4, 40.0


def views(elevations: list[float], azimuths: list[float], size: int = SIZE) -> Cameras:
    n = len(azimuths)
    return Cameras.from_spherical(torch.tensor(elevations), torch.tensor(azimuths), torch.full((n,), DISTANCE),
                                  FOV, size)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def fit(field: Field, lr: float, steps: int, tv_weight: float = 0.0, size: int = SIZE, family: str = "mushroom",
        rays_per_step: int = 1024, occupancy_every: int = 16) -> tuple[float, float]:
    """Fit ``field`` to 8 views with random ray batches; return (train PSNR, held-out PSNR).

    Training skips empty space with the renderer's occupancy grid (updated every ``occupancy_every``
    steps); evaluation renders with that same grid, as a trained field is meant to be rendered.
    """
    obj = procedural_object(family, "orange", seed=0)
    train = views([0, 30, 0, 30, 0, 30, 0, 30], [0, 45, 90, 135, 180, 225, 270, 315], size)
    test = views([15, 15, 15, 15], [22.5, 112.5, 202.5, 292.5], size)
    with torch.no_grad():
        target, target_test = render_object(obj, train).rgb, render_object(obj, test).rgb
    origins, dirs = (t.reshape(-1, 3) for t in train.rays())
    colours = target.reshape(-1, 3)
    renderer = VolumeRenderer(VolumeRendererConfig(num_samples=64, occupancy=True, occupancy_resolution=32))
    opt = torch.optim.Adam(field.param_groups(lr), betas=(0.9, 0.99), eps=1e-15)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        if step % occupancy_every == 0:
            renderer.update_occupancy(field, g)
        idx = torch.randint(0, origins.shape[0], (rays_per_step,), generator=g)
        out = renderer.render_rays(field, origins[idx], dirs[idx], generator=g)
        rgb = out["rgb"] + (1.0 - out["alpha"][:, None])  # white background
        loss = ((rgb - colours[idx]) ** 2).mean()
        if tv_weight > 0:
            loss = loss + tv_weight * field.total_variation()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        evaluate = VolumeRenderer(VolumeRendererConfig(num_samples=128, occupancy=True))
        evaluate.occupancy_grid = renderer.occupancy_grid
        return psnr(evaluate(field, train).rgb, target), psnr(evaluate(field, test).rgb, target_test)


def density_grid() -> Field:
    return DensityGrid(DensityGridConfig(resolution=40, radius=RADIUS, activation=DensityActivation(bias=-3.0)),
                       generator=torch.Generator().manual_seed(0))


def hash_grid() -> Field:
    enc = HashEncodingConfig(num_levels=8, features_per_level=2, log2_hashmap_size=14, base_resolution=8,
                             max_resolution=96)
    act = DensityActivation(kind="exp", bias=-3.0)
    return HashGridField(HashGridConfig(encoding=enc, hidden_dim=32, radius=RADIUS, activation=act),
                         torch.Generator().manual_seed(0))


def triplane() -> Field:
    dec = TriplaneDecoderConfig(feature_dim=8, hidden_dim=32)
    return Triplane(TriplaneConfig(resolution=48, radius=RADIUS, decoder=dec), torch.Generator().manual_seed(0))


# (field, learning rate, steps, total-variation weight, image size). The dense grid has no smoothness
# of its own (about 4 x 40^3 free values for 8 small views), so it gets a TV prior and 48 px views.
CASES = [
    pytest.param(density_grid, 0.1, 500, 0.01, 48, marks=pytest.mark.slow, id="density_grid"),
    pytest.param(hash_grid, 0.02, 150, 0.0, 32, marks=pytest.mark.slow, id="hash_grid"),
    pytest.param(triplane, 0.02, 200, 0.0, 32, id="triplane"),
]


@pytest.mark.parametrize("make,lr,steps,tv,size", CASES)
def test_field_fits_views(make, lr, steps, tv, size):
    t = time.time()
    train_psnr, test_psnr = fit(make(), lr, steps, tv, size)
    print(f"{make.__name__}: train {train_psnr:.2f} dB, held-out {test_psnr:.2f} dB, {time.time() - t:.1f} s")
    assert test_psnr >= 26.0
