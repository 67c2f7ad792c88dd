"""Pins lift3d's camera conventions (see lift3d/cameras.py) and round trips."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lift3d.cameras import Cameras, intrinsics_from_fov, look_at, position_to_spherical, spherical_to_position
from lift3d.sampling import OrbitSampler, Range, View, turntable, view_labels


def _cam(elev: float, azim: float, dist: float = 3.0, size: int = 64) -> Cameras:
    return Cameras.from_spherical(torch.tensor([elev]), torch.tensor([azim]), torch.tensor([dist]), 40.0, size)


def test_azimuth_zero_looks_from_plus_x() -> None:
    cam = _cam(0.0, 0.0)
    torch.testing.assert_close(cam.positions[0], torch.tensor([3.0, 0.0, 0.0]))
    torch.testing.assert_close(cam.c2w[0, :3, 2], torch.tensor([-1.0, 0.0, 0.0]))  # forward toward origin


def test_azimuth_increases_toward_plus_y_and_elevation_up() -> None:
    torch.testing.assert_close(_cam(0.0, 90.0).positions[0], torch.tensor([0.0, 3.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(_cam(90.0, 0.0).positions[0], torch.tensor([0.0, 0.0, 3.0]), atol=1e-5, rtol=0)


def test_plus_z_points_up_in_the_image_and_opencv_axes() -> None:
    cam = _cam(0.0, 0.0)
    # A point above the origin projects above the image centre (smaller y: OpenCV y points down).
    uv, z = cam.project(torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.5, 0.0]]))
    assert uv[0, 0, 1] < 32 and abs(uv[0, 1, 1] - 32) < 1e-4 and abs(uv[0, 1, 0] - 32) < 1e-4
    # Seen from +X, the +Y axis appears on the right (x right).
    assert uv[0, 2, 0] > 32
    assert torch.all(z > 0)
    # Rotation is proper (right-handed).
    assert torch.det(cam.c2w[0, :3, :3]) > 0.999


def test_look_at_straight_down_is_finite() -> None:
    c2w = look_at(torch.tensor([[0.0, 0.0, 3.0]]))
    assert torch.isfinite(c2w).all()
    torch.testing.assert_close(c2w[0, :3, 2], torch.tensor([0.0, 0.0, -1.0]))
    torch.testing.assert_close(c2w[0, :3, :3] @ c2w[0, :3, :3].T, torch.eye(3), atol=1e-6, rtol=0)


angles = st.floats(-85.0, 85.0)
azimuths = st.floats(0.0, 359.9)
distances = st.floats(0.5, 10.0)


@settings(max_examples=50, deadline=None)
@given(angles, azimuths, distances)
def test_spherical_round_trip(elev: float, azim: float, dist: float) -> None:
    pos = spherical_to_position(torch.tensor(elev, dtype=torch.float64), torch.tensor(azim, dtype=torch.float64),
                                torch.tensor(dist, dtype=torch.float64))
    e, a, d = position_to_spherical(pos)
    assert abs(e.item() - elev) < 1e-6 and abs(d.item() - dist) < 1e-9
    assert min(abs(a.item() - azim), 360 - abs(a.item() - azim)) < 1e-6


@settings(max_examples=30, deadline=None)
@given(angles, azimuths, distances, st.floats(20.0, 80.0))
def test_viewmats_round_trip(elev: float, azim: float, dist: float, fov: float) -> None:
    cam = Cameras.from_spherical(torch.tensor([elev]), torch.tensor([azim]), torch.tensor([dist]), fov, 48, 32)
    torch.testing.assert_close(cam.viewmats() @ cam.c2w, torch.eye(4)[None], atol=1e-5, rtol=0)
    back = Cameras.from_viewmats(cam.viewmats(), cam.K, 48, 32)
    torch.testing.assert_close(back.c2w, cam.c2w, atol=1e-5, rtol=0)
    torch.testing.assert_close(back.K, cam.K)
    assert (back.width, back.height) == (48, 32)
    assert abs(cam.fov_y_deg.item() - fov) < 1e-3


def test_rays_pass_through_projected_pixels() -> None:
    cam = _cam(30.0, 200.0, 2.0, size=16)
    origins, dirs = cam.rays()
    assert origins.shape == dirs.shape == (1, 16, 16, 3)
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(1, 16, 16))
    # A point 1.7 units along the ray through pixel (row 3, col 11) projects back to its centre.
    p = origins[0, 3, 11] + 1.7 * dirs[0, 3, 11]
    uv, _ = cam.project(p[None])
    torch.testing.assert_close(uv[0, 0], torch.tensor([11.5, 3.5]), atol=1e-4, rtol=0)


def test_intrinsics_from_fov() -> None:
    K = intrinsics_from_fov(90.0, 64, 32)
    assert abs(K[1, 1].item() - 16.0) < 1e-5 and K[0, 2] == 32 and K[1, 2] == 16


def test_resized_keeps_fov() -> None:
    cam = _cam(0, 0, size=64).resized(128)
    assert abs(cam.fov_y_deg.item() - 40.0) < 1e-4 and cam.K[0, 0, 2] == 64


def test_bad_cameras_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Cameras(torch.full((1, 4, 4), float("nan")), torch.eye(3)[None], 8, 8)
    with pytest.raises(ValueError, match="4, 4"):
        Cameras(torch.eye(3)[None], torch.eye(3)[None], 8, 8)


def test_view_labels() -> None:
    labels = view_labels(torch.tensor([0.0, 0.0, 0.0, 0.0, 70.0]), torch.tensor([10.0, 90.0, 180.0, 350.0, 180.0]))
    assert labels == [View.FRONT, View.SIDE, View.BACK, View.FRONT, View.OVERHEAD]


def test_orbit_sampler_ranges_schedules_and_determinism() -> None:
    sampler = OrbitSampler(elevation=Range((0.0, 10.0), (30.0, 40.0), ramp_steps=100), distance=Range((2.0, 2.0)))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = sampler.sample(8, 32, step=100, generator=g1)
    b = sampler.sample(8, 32, step=100, generator=g2)
    torch.testing.assert_close(a.c2w, b.c2w, rtol=0, atol=0)
    e, az, d = a.spherical()
    assert torch.all((e >= 30 - 1e-3) & (e <= 40 + 1e-3))
    torch.testing.assert_close(d, torch.full((8,), 2.0))
    # Stratified azimuths: one per 45-degree sector.
    sectors = torch.sort(((az + 180) % 360) // 45).values
    assert sectors.tolist() == list(range(8))
    e0, _, _ = sampler.sample(64, 32, step=0, generator=g1).spherical()
    assert torch.all(e0 <= 10 + 1e-3)


def test_turntable() -> None:
    cams = turntable(8, 32, elevation_deg=15.0)
    e, a, d = cams.spherical()
    torch.testing.assert_close(e, torch.full((8,), 15.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(a, torch.arange(8.0) * 45, atol=1e-3, rtol=0)
    assert math.isclose(d[0].item(), 2.75, rel_tol=1e-6)
