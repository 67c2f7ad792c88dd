"""Gaussian splat renderer: closed forms, the dense gsplat-based reference, gradcheck, bad input."""

from __future__ import annotations

import pytest
import torch
from gsplat.cuda._torch_impl import _eval_sh_bases_fast, _fully_fused_projection, _quat_scale_to_covar_preci

from lift3d.cameras import Cameras
from lift3d.renderers import GaussianRenderer, GaussianRendererConfig
from lift3d.renderers._splat_dense_reference import render_dense_reference
from lift3d.renderers._splat_project import project_gaussians, quat_to_rotmat
from lift3d.renderers._splat_raster_torch import RasterizeTiles, bin_tiles
from lift3d.renderers._splat_sh import sh_basis
from lift3d.scenes import Gaussians
from lift3d.scenes.gaussians import ATTRIBUTES


def random_scene(n: int, seed: int, degree: int = 3, dtype=torch.float32) -> Gaussians:
    """Anisotropic Gaussians with varied opacity and view-dependent colour."""
    g = torch.Generator().manual_seed(seed)
    s = Gaussians.random_ball(n, 1.0, g, sh_degree=degree, opacity=0.5)
    with torch.no_grad():
        s.params["scales"].add_(0.6 * torch.randn(n, 3, generator=g))
        s.params["opacities"].copy_(2.0 * torch.randn(n, generator=g))
        s.params["shN"].copy_(0.3 * torch.randn(s.params["shN"].shape, generator=g))
    return s.to(dtype)


def orbit(n: int, width: int, height: int, distance: float = 3.0) -> Cameras:
    az = torch.linspace(0.0, 300.0, n)
    el = torch.linspace(-30.0, 40.0, n)
    return Cameras.from_spherical(el, az, torch.full((n,), distance), 50.0, width, height)


def weighted_loss(out, weights) -> torch.Tensor:
    return sum((getattr(out, k) * w).sum() for k, w in weights.items())


def test_single_gaussian_matches_closed_form():
    # A Gaussian at the origin with its short axis along +X, seen from a camera on the +X axis.
    s_xy, d, opacity, bg = 0.2, 3.0, 0.8, torch.tensor([0.1, 0.2, 0.3])
    scene = Gaussians.from_points(torch.zeros(1, 3), torch.tensor([[0.9, 0.4, 0.1]]), 0, torch.ones(1), opacity=opacity)
    with torch.no_grad():
        scene.params["scales"].copy_(torch.tensor([[0.01, s_xy, s_xy]]).log())
    cams = Cameras.from_spherical(torch.zeros(1), torch.zeros(1), torch.full((1,), d), 40.0, 37, 29)
    out = GaussianRenderer()(scene, cams, bg)

    f = cams.K[0, 0, 0]
    var = (f * s_xy / d) ** 2 + 0.3  # image-plane variance plus gsplat's low-pass
    j, i = torch.meshgrid(torch.arange(29) + 0.5, torch.arange(37) + 0.5, indexing="ij")
    r2 = (i - 37 / 2) ** 2 + (j - 29 / 2) ** 2
    alpha = (opacity * torch.exp(-0.5 * r2 / var)).clamp_max(0.999)
    alpha = torch.where(alpha >= 1 / 255, alpha, 0.0)[..., None]
    colour = torch.tensor([0.9, 0.4, 0.1])
    torch.testing.assert_close(out.alpha[0], alpha, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.rgb[0], alpha * colour + (1 - alpha) * bg, atol=1e-5, rtol=0)
    hit = alpha[..., 0] > 0
    torch.testing.assert_close(out.depth[0][hit], torch.full_like(out.depth[0][hit], d), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.normal[0], alpha * torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)


def test_sh_basis_matches_gsplat():
    dirs = torch.nn.functional.normalize(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    for degree in range(4):
        ours = sh_basis(degree, dirs)
        torch.testing.assert_close(ours, _eval_sh_bases_fast((degree + 1) ** 2, dirs), atol=1e-6, rtol=0)


def test_projection_matches_gsplat():
    scene = random_scene(300, seed=1)
    cams = orbit(3, 40, 30)
    covars, _ = _quat_scale_to_covar_preci(scene.quats, scene.scales, compute_preci=False)
    radii, means2d, depths, conics, comp = _fully_fused_projection(
        scene.means, covars, cams.viewmats(), cams.K, 40, 30, calc_compensations=True
    )
    ours = project_gaussians(
        scene.means, quat_to_rotmat(scene.quats), scene.scales, scene.opacities, cams.viewmats(), cams.K, 40, 30,
        antialiased=True,
    )  # fmt: skip
    shown = (ours.radii > 0).all(-1)
    assert shown.sum() > 100
    # our bounds are opacity aware, so never larger than gsplat's 3.33-sigma boxes
    assert ((radii > 0).all(-1) | ~shown).all() and (ours.radii <= radii).all()
    torch.testing.assert_close(ours.means2d[shown], means2d[shown], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(ours.conics[shown], conics[shown], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.depths, depths)
    torch.testing.assert_close(ours.opacities[shown], (scene.opacities * comp)[shown], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("seed", "degree", "antialiased"), [(0, 3, False), (1, 1, True), (2, 0, False)])
def test_torch_backend_matches_dense_reference(seed, degree, antialiased):
    scene = random_scene(250, seed, degree)
    cams = orbit(2, 40, 30)
    cfg = GaussianRendererConfig(backend="torch", antialiased=antialiased)
    bg = torch.tensor([[0.2, 0.5, 0.9], [1.0, 1.0, 1.0]])
    ours = GaussianRenderer(cfg)(scene, cams, bg)
    ref = render_dense_reference(scene, cams, bg, antialiased=antialiased)
    for key in ("rgb", "alpha", "normal"):
        diff = (getattr(ours, key) - getattr(ref, key)).abs()
        # float32 rounding may flip a Gaussian across the 1/255 or 1e-4 thresholds at a rare pixel
        assert diff.max() < 2 / 255 and (diff > 1e-4).float().mean() < 1e-3, key
    hit = ref.alpha > 0.05
    torch.testing.assert_close(ours.depth[hit], ref.depth[hit], atol=1e-4, rtol=1e-5)
    assert (ours.alpha > 0.5).float().mean() > 0.1  # the scene covers the images

    g = torch.Generator().manual_seed(seed)
    weights = {k: torch.randn(getattr(ours, k).shape, generator=g) for k in ("rgb", "alpha", "depth", "normal")}
    weights["depth"] *= 0.1
    names = [k for k, p in scene.params.items() if p.numel()]
    params = [scene.params[k] for k in names]
    ga = torch.autograd.grad(weighted_loss(ours, weights), params)
    gb = torch.autograd.grad(weighted_loss(ref, weights), params)
    for name, a, b in zip(names, ga, gb):
        scale = b.abs().max().clamp_min(1.0)
        assert (a - b).abs().max() <= 1e-4 * scale, f"gradient of {name} differs"


def test_gradients_match_reference_in_float64():
    scene = random_scene(150, seed=5, degree=2, dtype=torch.float64)
    cams = orbit(2, 33, 20).to("cpu", torch.float64)
    ours = GaussianRenderer()(scene, cams, (0.3, 0.3, 0.3))
    ref = render_dense_reference(scene, cams, (0.3, 0.3, 0.3))
    weights = {k: torch.rand_like(getattr(ours, k)) for k in ("rgb", "alpha", "normal")}
    params = [p for p in scene.params.values() if p.numel()]
    ga = torch.autograd.grad(weighted_loss(ours, weights), params)
    gb = torch.autograd.grad(weighted_loss(ref, weights), params)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


def test_rasterizer_gradcheck():
    g = torch.Generator().manual_seed(3)
    n, W, H = 6, 20, 18
    means2d = (torch.rand(1, n, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H])).requires_grad_()
    L = torch.randn(n, 2, 2, generator=g, dtype=torch.float64) * 0.3
    cov = L @ L.transpose(1, 2) * 20 + 4 * torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], -1).requires_grad_()
    opac = (0.3 + 0.6 * torch.rand(n, generator=g, dtype=torch.float64)).requires_grad_()
    feats = torch.rand(n, 4, generator=g, dtype=torch.float64).requires_grad_()
    depths = torch.rand(1, n, generator=g, dtype=torch.float64)
    radii = torch.full((1, n, 2), 12, dtype=torch.int32)
    bins = bin_tiles(means2d.detach(), radii, depths, W, H, tile_size=8, slice_size=2)

    def f(m, c, o, x):
        return RasterizeTiles.apply(m.reshape(-1, 2), c, o, x, bins)

    assert torch.autograd.gradcheck(f, (means2d, conics, opac, feats), eps=1e-7, atol=1e-6, fast_mode=True)


def test_zero_gaussians_render_background():
    scene = random_scene(4, seed=0)
    empty = Gaussians(*(scene.params[k][:0] for k in ATTRIBUTES))
    out = GaussianRenderer()(empty, orbit(2, 20, 16), (0.25, 0.5, 0.75))
    torch.testing.assert_close(out.rgb, torch.tensor([0.25, 0.5, 0.75]).expand(2, 16, 20, 3))
    assert (out.alpha == 0).all() and (out.depth == 0).all() and (out.normal == 0).all()


def test_gaussians_behind_the_camera_are_culled():
    cams = Cameras.from_spherical(torch.zeros(1), torch.zeros(1), torch.full((1,), 3.0), 60.0, 32)
    behind = torch.tensor([[4.0, 0.0, 0.0], [3.5, 0.2, 0.1]])  # the camera sits at x=3 looking toward -X
    scene = Gaussians.from_points(behind, None, 0, torch.full((2,), 0.5), opacity=0.9)
    out = GaussianRenderer()(scene, cams, (1.0, 1.0, 1.0))
    assert (out.aux["radii"] == 0).all()
    assert (out.alpha == 0).all() and (out.rgb == 1).all()
    out.rgb.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in scene.params.values() if p.grad is not None)


@pytest.mark.parametrize("name", ["means", "quats", "scales", "opacities", "sh0", "shN"])
def test_non_finite_parameters_name_the_attribute(name):
    scene = random_scene(10, seed=0, degree=1)
    with torch.no_grad():
        scene.params[name].view(-1)[3] = float("nan")
    with pytest.raises(ValueError, match=f"Gaussians.{name} has non-finite"):
        GaussianRenderer()(scene, orbit(1, 8, 8))


def test_background_shapes_and_errors():
    scene = random_scene(50, seed=4, degree=0)
    cams = orbit(2, 16, 12)
    image_bg = torch.rand(2, 12, 16, 3, generator=torch.Generator().manual_seed(0))
    out = GaussianRenderer()(scene, cams, image_bg)
    plain = GaussianRenderer()(scene, cams, (0.0, 0.0, 0.0))
    torch.testing.assert_close(out.rgb, plain.rgb + (1 - plain.alpha) * image_bg)
    with pytest.raises(ValueError, match="background"):
        GaussianRenderer()(scene, cams, torch.ones(4))
    with pytest.raises(ValueError, match="backend='cuda'"):
        GaussianRenderer(GaussianRendererConfig(backend="cuda"))(scene, cams)


def test_batched_cameras_equal_single_renders():
    scene = random_scene(200, seed=6, degree=2)
    cams = orbit(3, 24, 20)
    together = GaussianRenderer()(scene, cams)
    for c in range(3):
        alone = GaussianRenderer()(scene, cams[c])
        torch.testing.assert_close(together.rgb[c : c + 1], alone.rgb, atol=1e-6, rtol=0)
    assert torch.isfinite(together.depth).all()


def test_alphas_of_several_scenes_equal_one_render_each():
    """``alphas`` composites K scenes in one tile pass: the same opacity as K separate renders."""
    scenes = [random_scene(150, seed=s, degree=0) for s in (7, 8, 9)]
    cams = orbit(2, 24, 20)
    renderer = GaussianRenderer()
    together = renderer.alphas(scenes, cams)
    assert together.shape == (3, 2, 20, 24, 1)
    for k, scene in enumerate(scenes):
        torch.testing.assert_close(together[k], renderer(scene, cams).alpha, atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [32, 100])
def test_tile_size_changes_only_rounding(size):
    """The automatic torch tile (4 px up to 64 px, else 8) renders, and differentiates, what 16 px tiles do."""
    scene, cams = random_scene(300, seed=10, degree=1), orbit(2, size, size)
    weights = {"rgb": torch.randn(2, size, size, 3), "alpha": torch.randn(2, size, size, 1)}
    images, grads = [], []
    for tile in (16, None):
        for p in scene.params.values():
            p.grad = None
        out = GaussianRenderer(GaussianRendererConfig(tile_size=tile))(scene, cams)
        weighted_loss(out, weights).backward()
        images.append(torch.cat([out.rgb, out.alpha], -1).detach())
        grads.append({k: p.grad.clone() for k, p in scene.params.items()})
    torch.testing.assert_close(images[1], images[0], atol=1e-6, rtol=0)
    for k in grads[0]:
        torch.testing.assert_close(grads[1][k], grads[0][k], atol=1e-4, rtol=1e-4)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(("antialiased", "packed"), [(False, False), (True, True)])
def test_gsplat_backend_matches_torch_backend(antialiased, packed):
    cams = orbit(3, 96, 80)
    outs, grads = [], []
    for backend, device in (("torch", "cpu"), ("cuda", "cuda")):
        s = random_scene(3000, seed=7, degree=3).to(device)
        cfg = GaussianRendererConfig(backend=backend, antialiased=antialiased, packed=packed)
        out = GaussianRenderer(cfg)(s, cams.to(device), (0.2, 0.4, 0.6))
        weights = torch.linspace(0, 1, out.rgb.numel(), device=device).reshape(out.rgb.shape)
        (out.rgb * weights).sum().backward()
        outs.append(out)
        grads.append({k: p.grad.cpu() for k, p in s.params.items()})
    for key in ("rgb", "alpha", "normal"):
        diff = (getattr(outs[1], key).cpu() - getattr(outs[0], key)).abs()
        # fast-math exp on the GPU may flip a Gaussian across the 1/255 threshold at a rare pixel
        assert diff.max() < 2 / 255 and (diff > 1e-4).float().mean() < 1e-3, key
    for k in ("means", "sh0", "opacities"):
        scale = grads[0][k].abs().max()
        assert (grads[1][k] - grads[0][k]).abs().max() <= 2e-2 * scale, k
