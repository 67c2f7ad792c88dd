"""Zero123 / Stable Zero123: pose conventions, conditioning layout, uncond zeros, one SDS step."""

from __future__ import annotations

import math

import pytest
import torch
from priors_fixtures import save_zero123

from lift3d.cameras import Cameras
from lift3d.guidance.sds import SDSConfig
from lift3d.priors.base import Branch
from lift3d.priors.stable_diffusion import LoadOptions
from lift3d.priors.zero123 import PoseConvention, ReferenceView, Zero123Config, relative_pose

REF = ReferenceView(elevation_deg=5.0, azimuth_deg=30.0, distance=3.8)


def cams(el: list[float], az: list[float], dist: list[float]) -> Cameras:
    return Cameras.from_spherical(torch.tensor(el), torch.tensor(az), torch.tensor(dist), 20.0, 16)


def test_reference_view_gives_identity_pose() -> None:
    c = cams([5.0], [30.0], [3.8])
    torch.testing.assert_close(relative_pose(c, REF, PoseConvention.ZERO123)[0], torch.tensor([0.0, 0.0, 1.0, 0.0]),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(relative_pose(c, REF, PoseConvention.STABLE_ZERO123)[0],
                               torch.tensor([0.0, 0.0, 1.0, math.radians(85.0)]), atol=1e-5, rtol=0)


def test_pose_signs_and_periodicity() -> None:
    c = cams([35.0, 5.0, 5.0], [30.0, 120.0, 30.0 + 360.0 + 45.0], [3.8, 3.8, 4.8])
    zero = relative_pose(c, REF, PoseConvention.ZERO123)
    # higher elevation = smaller polar angle (polar = 90 - elevation): negative delta polar
    assert zero[0, 0].item() == pytest.approx(math.radians(-30.0), abs=1e-5)
    # +90 deg azimuth: sin = 1, cos = 0; +360 is the same view as +0
    torch.testing.assert_close(zero[1, 1:3], torch.tensor([1.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(zero[2, 1:3], torch.tensor([math.sin(math.radians(45)), math.cos(math.radians(45))]),
                               atol=1e-5, rtol=0)
    assert zero[2, 3].item() == pytest.approx(1.0, abs=1e-5)  # distance difference
    stable = relative_pose(c, REF, PoseConvention.STABLE_ZERO123)
    torch.testing.assert_close(stable[:, :3], zero[:, :3])
    torch.testing.assert_close(stable[:, 3], torch.full((3,), math.radians(85.0)))  # absolute reference polar


@pytest.fixture(scope="module")
def prior(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = save_zero123(tmp_path_factory.mktemp("z123") / "zero123-xl-diffusers")
    return Zero123Config(model=str(folder), load=LoadOptions(device="cpu")).build()


def test_conditioning_layout_and_zero_uncond(prior: object) -> None:
    assert prior.unet.dtype == torch.float32 and prior.resolution == 16
    rgba = torch.rand(1, 24, 24, 4)
    cond = prior.image_conditions(rgba, REF, batch=2)
    assert cond.text.shape == (2, 1, 32) and cond.image.shape == (2, 4, 8, 8)
    c = cams([20.0, 5.0], [30.0, 200.0], [3.8, 3.8])
    cond = cond.with_(camera=prior.camera_condition(c))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hook = prior.unet.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((args[0], kwargs["encoder_hidden_states"])), with_kwargs=True)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([400, 400])
    eps = prior.predict(x, t, cond, [Branch.TEXT, Branch.UNCOND])
    hook.remove()
    x_in, states = seen[0]
    assert x_in.shape == (4, 8, 8, 8)  # 8 channels: noisy latent + reference latent
    torch.testing.assert_close(x_in[:2, :4], x)
    torch.testing.assert_close(x_in[:2, 4:], cond.image)
    assert (x_in[2:, 4:] == 0).all() and (states[2:] == 0).all()  # uncond: zero latent and zero token
    w, b = prior.cc_projection.projection.weight, prior.cc_projection.projection.bias
    expected = torch.cat([cond.text[:, 0], cond.camera], dim=-1) @ w.T + b  # [CLIP, T] order
    torch.testing.assert_close(states[:2, 0], expected)
    assert eps[Branch.TEXT].shape == (2, 4, 8, 8)
    # the reference latent is the unscaled posterior mode of the composited-on-white image
    white = rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]
    img = torch.nn.functional.interpolate(white.permute(0, 3, 1, 2), size=(16, 16), mode="bilinear") * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(cond.image[:1], prior.vae.encode(img).latent_dist.mode())


def test_one_sds_step(prior: object) -> None:
    cond = prior.image_conditions(torch.rand(1, 16, 16, 3), REF, batch=2)
    c = cams([10.0, 0.0], [90.0, 270.0], [3.8, 3.8])
    images = torch.rand(2, 16, 16, 3, requires_grad=True)
    out = SDSConfig(guidance_scale=3.0).build(prior)(images, cond, c, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and images.grad.abs().sum() > 0


def test_needs_reference_first(prior: object) -> None:
    saved, prior.reference = prior.reference, None
    try:
        with pytest.raises(ValueError, match="image_conditions"):
            prior.camera_condition(cams([0.0], [0.0], [3.8]))
    finally:
        prior.reference = saved


def test_ashawkey_layout_and_convention_from_name(tmp_path: object) -> None:
    folder = save_zero123(tmp_path / "stable-zero123-diffusers", projection="clip_camera_projection")
    config = Zero123Config(model=str(folder), load=LoadOptions(device="cpu"))
    assert config.pose_convention() is PoseConvention.STABLE_ZERO123
    assert Zero123Config(model="ashawkey/zero123-xl-diffusers").pose_convention() is PoseConvention.ZERO123
    assert Zero123Config(model=str(folder), convention=PoseConvention.ZERO123).pose_convention() is PoseConvention.ZERO123
    prior = config.build()
    assert prior.convention is PoseConvention.STABLE_ZERO123
    cond = prior.image_conditions(torch.rand(1, 16, 16, 3), REF, batch=1)
    c = cams([5.0], [30.0], [3.8])
    torch.testing.assert_close(prior.camera_condition(c)[0], torch.tensor([0.0, 0.0, 1.0, math.radians(85.0)]),
                               atol=1e-5, rtol=0)
    eps = prior.predict(torch.randn(1, 4, 8, 8), torch.tensor([100]), cond.with_(camera=prior.camera_condition(c)),
                        [Branch.TEXT, Branch.UNCOND])
    assert torch.isfinite(eps[Branch.TEXT]).all()
