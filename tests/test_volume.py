"""Volume renderer: closed-form transmittance, importance sampling, occupancy skipping, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from nerfacc import render_weight_from_density

from lift3d.cameras import Cameras
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.renderers.volume_sampling import ray_aabb_intersect, sample_pdf, stratified_bins
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation, Field
from lift3d.scenes.shading import PointLights
from lift3d.types import LiftError


class Slab(Field):
    """Constant density ``sigma`` inside its box, constant colour."""

    def __init__(self, sigma: float, aabb: tuple[float, ...], color=(0.2, 0.4, 0.6)) -> None:
        super().__init__(aabb, DensityActivation())
        self.sigma = sigma
        self.color = torch.tensor(color)

    def forward(self, points):
        x = self.normalize(points)
        inside = (x.abs() <= 1).all(-1)
        return torch.where(inside, self.sigma, 0.0), self.color.expand(points.shape[0], 3)


def sphere_grid(radius: float = 0.35, resolution: int = 48, smooth: bool = False) -> DensityGrid:
    """A density grid holding a solid ball (raw +10 inside, -12 outside) with position-dependent colour.

    ``smooth`` makes the raw density a clamped linear function of the distance to the surface, so
    its gradient (and the rendered normal) is radial rather than voxel-staircased.
    """
    grid = DensityGrid(DensityGridConfig(resolution=resolution, activation=DensityActivation(bias=0.0)))
    axis = torch.linspace(-1, 1, resolution)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    r = (x * x + y * y + z * z).sqrt()
    with torch.no_grad():
        raw = (-(r - radius) * 60).clamp(-12, 40) if smooth else torch.where(r < radius, 10.0, -12.0)
        grid.density_voxels.copy_(raw[None, None])
        grid.color_voxels.copy_(torch.stack([x, y, z])[None] * 3)
    return grid


def front_cameras(n: int = 1, size: int = 16, fov: float = 20.0, distance: float = 3.0) -> Cameras:
    return Cameras.from_spherical(torch.zeros(n), torch.linspace(0, 90, n), torch.full((n,), distance), fov, size)


def test_constant_slab_matches_closed_form():
    sigma, h = 1.3, 0.4
    scene = Slab(sigma, (-h, -5, -5, h, 5, 5))
    cams = front_cameras(size=12, fov=30.0)
    out = VolumeRenderer(VolumeRendererConfig(num_samples=512))(scene, cams, background=(0.0, 0.0, 0.0))
    _, dirs = cams.rays()
    length = 2 * h / dirs[..., 0].abs()  # path length through |x| <= h
    alpha = 1 - torch.exp(-sigma * length)
    torch.testing.assert_close(out.alpha[..., 0], alpha, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.rgb, alpha[..., None] * scene.color, atol=1e-5, rtol=1e-5)
    # Expected distance of a truncated exponential starting at t0 = (3 - h) / |d_x|.
    t0 = (3 - h) / dirs[..., 0].abs()
    mean_t = t0 + 1 / sigma - length * torch.exp(-sigma * length) / alpha
    cos = dirs[..., 0].abs()  # camera looks along -x
    torch.testing.assert_close(out.depth[..., 0], mean_t * cos, atol=1e-4, rtol=1e-4)


def test_ray_box_intersection_and_camera_inside():
    aabb = torch.tensor([-1.0, -1, -1, 1, 1, 1])
    o = torch.tensor([[3.0, 0, 0], [0.0, 0, 0], [3.0, 3, 0]])
    d = torch.tensor([[-1.0, 0, 0], [0.0, 0, 1], [1.0, 0, 0]])
    t0, t1, hit = ray_aabb_intersect(o, d, aabb, near=0.05)
    assert hit.tolist() == [True, True, False]
    torch.testing.assert_close(t0[:2], torch.tensor([2.0, 0.05]))
    torch.testing.assert_close(t1[:2], torch.tensor([4.0, 1.0]))
    assert t0[2] == t1[2]


def test_camera_inside_box_renders_finite():
    grid = sphere_grid()
    inside = Cameras.from_spherical(torch.zeros(1), torch.zeros(1), torch.full((1,), 0.7), 60.0, 12)
    out = VolumeRenderer(VolumeRendererConfig(num_samples=64, near=0.01))(grid, inside)
    assert torch.isfinite(out.rgb).all() and torch.isfinite(out.depth).all()
    assert out.alpha[0, 6, 6, 0] > 0.99  # looking at the ball from inside the box
    assert 0.0 < out.depth[0, 6, 6, 0] < 0.7


def test_importance_sampling_concentrates_at_surface():
    grid = sphere_grid(radius=0.5)
    o = torch.tensor([[3.0, 0.0, 0.0]])
    d = torch.tensor([[-1.0, 0.0, 0.0]])
    t0, t1, _ = ray_aabb_intersect(o, d, grid.aabb)
    edges = stratified_bins(t0, t1, 16)
    mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
    sigma = grid.density((o + d * mids[0, :, None]).reshape(-1, 3)).view(1, -1)
    weights, _, _ = render_weight_from_density(edges[:, :-1], edges[:, 1:], sigma)
    fine = sample_pdf(edges, weights, 64, torch.Generator().manual_seed(0))
    near_surface = ((fine - 2.5).abs() < 0.25).float().mean()
    assert near_surface > 0.9  # uniform sampling over the 2-unit box would put 25% there
    # And rendered depth gets closer to the true surface.
    cams = front_cameras(size=8, fov=5.0)
    coarse = VolumeRenderer(VolumeRendererConfig(num_samples=8))(grid, cams)
    refined = VolumeRenderer(VolumeRendererConfig(num_samples=8, num_importance=32))(grid, cams)
    # Continuous expected depth: surface at 2.5 plus the mean free path 1 / sigma (sigma = softplus(10)).
    err = lambda out: (out.depth[0, 4, 4, 0] - (2.5 + 1 / 10.0)).abs()  # noqa: E731
    assert err(refined) < 0.01 and 3 * err(refined) < err(coarse)


def test_sample_pdf_exact_cases():
    edges = torch.linspace(0, 4, 5)[None]
    one_bin = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    s = sample_pdf(edges, one_bin, 100, torch.Generator().manual_seed(1))
    assert ((s >= 2.0) & (s <= 3.0)).float().mean() > 0.99
    uniform = sample_pdf(edges, torch.ones(1, 4), 8)
    torch.testing.assert_close(uniform[0], (torch.arange(8) + 0.5) / 2, atol=1e-3, rtol=0)


def test_stratified_bins_are_sorted_and_cover_interval():
    t0, t1 = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.5])
    e = stratified_bins(t0, t1, 32, torch.Generator().manual_seed(0))
    assert (e.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(e[:, 0], t0)
    torch.testing.assert_close(e[:, -1], t1)


def test_occupancy_skipping_same_image_fewer_samples():
    grid = sphere_grid()
    cams = front_cameras(n=2, size=24, fov=40.0)
    plain = VolumeRenderer(VolumeRendererConfig(num_samples=128))
    skip = VolumeRenderer(VolumeRendererConfig(num_samples=128, occupancy=True, occupancy_resolution=32))
    skip.update_occupancy(grid, torch.Generator().manual_seed(0), samples_per_cell=2)
    a, b = plain(grid, cams), skip(grid, cams)
    assert (a.rgb - b.rgb).abs().max() <= 1e-3
    assert (a.alpha - b.alpha).abs().max() <= 1e-3
    assert a.alpha.max() > 0.99  # the ball is in view
    assert a.aux["num_samples"] >= 3 * b.aux["num_samples"] > 0


def test_occupancy_requires_update():
    with pytest.raises(LiftError, match="update_occupancy"):
        VolumeRenderer(VolumeRendererConfig(occupancy=True))(sphere_grid(), front_cameras())


def test_empty_scene_gives_background_and_gradients():
    grid = DensityGrid(DensityGridConfig(resolution=8, activation=DensityActivation(bias=-200.0)))
    renderer = VolumeRenderer(VolumeRendererConfig(num_samples=16, occupancy=True, occupancy_resolution=8))
    renderer.update_occupancy(grid)
    assert renderer.occupancy_grid.occupied_fraction == 0.0
    out = renderer(grid, front_cameras(), background=(0.1, 0.2, 0.3))
    assert out.aux["num_samples"] == 0
    torch.testing.assert_close(out.rgb, torch.tensor([0.1, 0.2, 0.3]).expand_as(out.rgb))
    assert (out.alpha == 0).all() and (out.depth == 0).all()
    out.rgb.sum().backward()  # still differentiable: zero gradients, not an error
    assert grid.density_voxels.grad is not None and (grid.density_voxels.grad == 0).all()


def test_rays_missing_box():
    away = Cameras.from_spherical(torch.zeros(1), torch.zeros(1), torch.full((1,), 3.0), 20.0, 8)
    away.c2w[:, :3, :3] = -away.c2w[:, :3, :3]  # look away from the origin (still a rotation: flip 2 axes)
    away.c2w[:, :3, 0] = -away.c2w[:, :3, 0]
    out = VolumeRenderer()(sphere_grid(), away)
    assert (out.alpha == 0).all() and out.aux["num_samples"] == 0


def test_non_finite_parameters_raise():
    grid = sphere_grid()
    with torch.no_grad():
        grid.density_voxels[0, 0, 20:28, 20:28, 20:28] = float("nan")
    with pytest.raises(LiftError, match="NaN/Inf"):
        VolumeRenderer(VolumeRendererConfig(num_samples=64))(grid, front_cameras(size=8))


def test_chunking_does_not_change_result():
    grid = sphere_grid()
    cams = front_cameras(n=2, size=10, fov=40.0)
    a = VolumeRenderer(VolumeRendererConfig(num_samples=32, chunk_rays=7))(grid, cams)
    b = VolumeRenderer(VolumeRendererConfig(num_samples=32))(grid, cams)
    torch.testing.assert_close(a.rgb, b.rgb)
    torch.testing.assert_close(a.depth, b.depth)


def test_stratified_render_is_reproducible_and_unbiased():
    grid = sphere_grid()
    cams = front_cameras(size=8, fov=40.0)
    r = VolumeRenderer(VolumeRendererConfig(num_samples=64))
    a = r(grid, cams, generator=torch.Generator().manual_seed(3))
    b = r(grid, cams, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.rgb, b.rgb)
    ref = r(grid, cams)
    assert (a.alpha - ref.alpha).abs().mean() < 0.02


def test_bad_config_and_shading_without_lights():
    with pytest.raises(ValueError):
        VolumeRendererConfig(num_samples=0)
    with pytest.raises(ValueError, match="lights"):
        VolumeRenderer()(sphere_grid(), front_cameras(), shading="lambertian")


def test_constant_slab_density_scale_invariance():
    """Doubling density and halving thickness gives the same opacity (optical depth identity)."""
    cams = front_cameras(size=6, fov=10.0)
    r = VolumeRenderer(VolumeRendererConfig(num_samples=128))
    a = r(Slab(2.0, (-0.2, -5, -5, 0.2, 5, 5)), cams).alpha
    b = r(Slab(1.0, (-0.4, -5, -5, 0.4, 5, 5)), cams).alpha
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert abs(a[0, 3, 3, 0].item() - (1 - math.exp(-0.8))) < 1e-3


def test_rendered_normals_and_lambertian_shading():
    grid = sphere_grid(radius=0.5, smooth=True)
    cams = front_cameras(size=9, fov=10.0)
    lights = PointLights(positions=torch.tensor([[5.0, 0.0, 0.0]]), ambient=torch.tensor([0.25]))
    outs = {
        m: VolumeRenderer(VolumeRendererConfig(num_samples=128, normals=m))(
            grid, cams, shading="textureless", lights=lights)
        for m in ("auto", "analytic", "finite_difference")
    }
    for out in outs.values():
        n = torch.nn.functional.normalize(out.normal[0, 4, 4], dim=-1)
        assert n[0] > 0.95  # the visible side of the ball faces the camera at +x
        # Textureless + light behind the camera: white times (ambient + diffuse * n.l) ~ 1 at the centre.
        assert (out.rgb[0, 4, 4] - 1.0).abs().max() < 0.06
        assert out.aux["orientation"][0, 4, 4, 0] < 1e-2
    lit_from_behind = PointLights(positions=torch.tensor([[-5.0, 0.0, 0.0]]), ambient=torch.tensor([0.25]))
    dark = VolumeRenderer(VolumeRendererConfig(num_samples=128))(
        grid, cams, background=(0.0, 0.0, 0.0), shading="textureless", lights=lit_from_behind)
    assert (dark.rgb[0, 4, 4] - 0.25).abs().max() < 0.06
