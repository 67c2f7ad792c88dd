"""Gaussians scene: constructors, param groups, SH schedule, 3DGS .ply round trip, densification."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from plyfile import PlyData

from lift3d.cameras import Cameras
from lift3d.renderers import GaussianRenderer
from lift3d.renderers._splat_project import quat_to_rotmat
from lift3d.scenes import GaussianLearningRates, Gaussians, SHSchedule
from lift3d.scenes.gaussians import SH_C0, knn_mean_distance, quat_z_to, rgb_to_sh0
from lift3d.scenes.gaussians_ply import load_ply, ply_property_names, save_ply
from lift3d.scenes.gaussians_strategy import DefaultDensify, GaussianOptimizer, MCMCDensify


def test_random_ball_is_repeatable_and_inside():
    a = Gaussians.random_ball(500, 2.0, torch.Generator().manual_seed(1), sh_degree=2)
    b = Gaussians.random_ball(500, 2.0, torch.Generator().manual_seed(1), sh_degree=2)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert a.means.norm(dim=-1).max() <= 2.0
    assert a.params["shN"].shape == (500, 8, 3) and a.max_sh_degree == 2
    colour = SH_C0 * a.params["sh0"][:, 0] + 0.5
    assert colour.min() >= 0 and colour.max() <= 1


def test_from_points_scales_from_nearest_neighbours():
    grid = torch.stack(torch.meshgrid(*[torch.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3) * 0.5
    g = Gaussians.from_points(grid, sh_degree=0)
    torch.testing.assert_close(g.scales, torch.full((64, 3), 0.5))  # 3 nearest neighbours at 0.5
    torch.testing.assert_close(g.opacities, torch.full((64,), 0.1))
    torch.testing.assert_close(knn_mean_distance(grid, k=1, chunk=7), torch.full((64,), 0.5))
    with pytest.raises(ValueError, match="points must be"):
        Gaussians.from_points(torch.zeros(4, 2))


def test_quat_z_to_rotates_z_onto_direction():
    d = torch.nn.functional.normalize(torch.randn(100, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    d = torch.cat([d, torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])])
    R = quat_to_rotmat(quat_z_to(d))
    torch.testing.assert_close(R[:, :, 2], d, atol=1e-5, rtol=0)


def test_from_mesh_puts_flat_gaussians_on_the_surface():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.7)
    mesh.visual.face_colors = [200, 30, 30, 255]
    g = Gaussians.from_mesh(mesh, 400, torch.Generator().manual_seed(0), sh_degree=1)
    radius = g.means.norm(dim=-1)
    assert (radius - 0.7).abs().max() < 0.02
    short_axis = quat_to_rotmat(g.quats)[:, :, 2]
    assert (short_axis * torch.nn.functional.normalize(g.means, dim=-1)).sum(-1).abs().min() > 0.95
    assert (g.scales[:, 2] < g.scales[:, 0] / 5).all()
    torch.testing.assert_close(SH_C0 * g.params["sh0"][:, 0] + 0.5, torch.tensor([200, 30, 30]).expand(400, 3) / 255)


def test_param_groups_and_isotropic_mode():
    g = Gaussians.random_ball(10, generator=torch.Generator().manual_seed(0), sh_degree=1, isotropic=True)
    groups = g.param_groups(GaussianLearningRates(means=1e-3), scene_scale=2.0)
    names = [x["name"] for x in groups]
    assert names == ["means", "scales", "opacities", "sh0", "shN"]  # frozen rotations are not optimised
    assert groups[0]["lr"] == pytest.approx(2e-3)
    assert g.params["scales"].shape == (10, 1) and g.scales.shape == (10, 3)
    assert (g.scales[:, 0] == g.scales[:, 2]).all()


def test_sh_schedule():
    g = Gaussians.random_ball(3, generator=torch.Generator().manual_seed(0), sh_degree=3)
    sched = SHSchedule(every=100)
    assert [sched.degree_at(s, g.max_sh_degree) for s in (0, 99, 100, 250, 10_000)] == [0, 0, 1, 2, 3]
    g.set_sh_degree(7)
    assert g.active_sh_degree == 3
    g.set_sh_degree(-1)
    assert g.active_sh_degree == 0


def test_bad_shapes_and_non_finite_values_are_named():
    g = Gaussians.random_ball(5, generator=torch.Generator().manual_seed(0), sh_degree=1)
    with pytest.raises(ValueError, match="Gaussians.quats must have shape"):
        Gaussians(g.means, g.quats[:, :3], g.params["scales"], g.params["opacities"], g.params["sh0"], g.params["shN"])
    with torch.no_grad():
        g.params["scales"][2, 1] = float("inf")
    with pytest.raises(ValueError, match="Gaussians.scales has non-finite values in 1 of 5"):
        g.validate()


@pytest.mark.parametrize("degree", [0, 3])
def test_ply_round_trip_renders_identically(tmp_path, degree):
    g = Gaussians.random_ball(300, 1.0, torch.Generator().manual_seed(2), sh_degree=degree, opacity=0.6)
    with torch.no_grad():
        g.params["shN"].normal_(0, 0.2, generator=torch.Generator().manual_seed(3))
        g.params["scales"].add_(torch.randn(300, 3, generator=torch.Generator().manual_seed(4)) * 0.3)
    path = save_ply(g, tmp_path / "splat.ply")
    ply = PlyData.read(str(path))
    assert [p.name for p in ply["vertex"].properties] == ply_property_names(degree)
    assert ply["vertex"].count == 300 and ply.byte_order == "<"
    # f_rest is channel-major: f_rest_0 is the red coefficient of the first higher-order basis function
    if degree:
        np.testing.assert_array_equal(ply["vertex"]["f_rest_0"], g.params["shN"][:, 0, 0].detach().numpy())
        np.testing.assert_array_equal(ply["vertex"]["f_rest_15"], g.params["shN"][:, 0, 1].detach().numpy())
    h = load_ply(path)
    for k in g.params:
        assert torch.equal(g.params[k], h.params[k]), k
    cams = Cameras.from_spherical(torch.tensor([10.0, 50.0]), torch.tensor([0.0, 200.0]), 3.0, 45.0, 40)
    a, b = GaussianRenderer()(g, cams), GaussianRenderer()(h, cams)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.depth, b.depth)


def test_load_ply_rejects_non_splat_files(tmp_path):
    mesh = trimesh.creation.box()
    mesh.export(tmp_path / "mesh.ply")
    with pytest.raises(ValueError, match="missing 3DGS properties"):
        load_ply(tmp_path / "mesh.ply")


def _step(scene, opt, cams, target, step):
    out = GaussianRenderer()(scene, cams, (1.0, 1.0, 1.0))
    opt.before_backward(step, out)
    ((out.rgb - target) ** 2).mean().backward()
    opt.step(step, out, cams)


def test_default_densification_keeps_optimizer_state_consistent():
    gen = torch.Generator().manual_seed(0)
    scene = Gaussians.random_ball(200, 0.8, gen, sh_degree=1, opacity=0.5)
    with torch.no_grad():
        scene.params["opacities"][:20] = -10.0  # transparent: to be pruned
    cams = Cameras.from_spherical(torch.tensor([0.0, 30.0]), torch.tensor([0.0, 120.0]), 3.0, 40.0, 32)
    target = torch.zeros(2, 32, 32, 3)
    target[:, 8:24, 8:24, 0] = 1.0
    densify = DefaultDensify(refine_start_iter=1, refine_every=3, grow_grad2d=1e-6, reset_every=10**6)
    opt = GaussianOptimizer(scene, densify, scene_scale=0.8)
    for step in range(4):
        _step(scene, opt, cams, target, step)
    n = len(scene)
    assert n != 200 and n > 180  # grown by cloning/splitting and shrunk by pruning
    assert (scene.opacities > 0.005).all()
    for name, optimizer in opt.optimizers.items():
        (p,) = optimizer.param_groups[0]["params"]
        assert p is scene.params[name]
        state = optimizer.state[p]
        assert state["exp_avg"].shape == p.shape and state["exp_avg_sq"].shape == p.shape
    assert opt.state["grad2d"].shape == (n,)
    _step(scene, opt, cams, target, 4)  # the grown scene keeps training
    assert all(torch.isfinite(p).all() for p in scene.params.values())


def test_mcmc_needs_cuda():
    scene = Gaussians.random_ball(10, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="CUDA"):
        GaussianOptimizer(scene, MCMCDensify())


def test_rgb_to_sh0_inverts_degree_zero_colour():
    rgb = torch.rand(7, 3)
    torch.testing.assert_close(SH_C0 * rgb_to_sh0(rgb) + 0.5, rgb)


def test_default_densification_resets_opacity():
    gen = torch.Generator().manual_seed(1)
    scene = Gaussians.random_ball(50, 0.8, gen, sh_degree=0, opacity=0.7)
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), 3.0, 40.0, 16)
    densify = DefaultDensify(refine_start_iter=100, reset_every=2, prune_opa=0.01)
    opt = GaussianOptimizer(scene, densify, scene_scale=0.8)
    _step(scene, opt, cams, torch.zeros(1, 16, 16, 3), 1)
    assert scene.opacities.min() > 0.5
    _step(scene, opt, cams, torch.zeros(1, 16, 16, 3), 2)
    assert scene.opacities.max() <= 0.02 + 1e-6
    p = scene.params["opacities"]
    assert opt.optimizers["opacities"].param_groups[0]["params"][0] is p
    assert (opt.optimizers["opacities"].state[p]["exp_avg"] == 0).all()
