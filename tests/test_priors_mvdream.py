"""MVDream: camera convention, multi-view attention, checkpoint conversion, loading and one SDS step."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from priors_fixtures import TINY_MV_UNET, TINY_MV_UNET_SD15, original_mvdream_state_dict, save_mvdream, save_sd
from safetensors.torch import save_file

from lift3d.cameras import Cameras
from lift3d.guidance.functional import TimestepSchedule
from lift3d.guidance.sds import SDSConfig
from lift3d.priors.base import Branch
from lift3d.priors.mvdream import (
    MVDreamConfig,
    convert_mvdream_checkpoint,
    convert_original_unet,
    load_converted_unet,
    mvdream_camera,
)
from lift3d.priors.mvdream_unet import MultiViewUNet
from lift3d.priors.stable_diffusion import LoadOptions
from lift3d.types import LiftError


def reference_get_camera(elevation: float, azimuth: float) -> np.ndarray:
    """MVDream ``camera_utils.get_camera`` for one view (y-up look-at, then OpenGL -> Blender flip_yz)."""
    e, a = math.radians(elevation), math.radians(azimuth)
    pos = np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])
    forward = -pos / np.linalg.norm(pos)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, up, -forward], axis=1)
    c2w[:3, 3] = pos
    flip_yz = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    return (flip_yz @ c2w).reshape(16)


@pytest.mark.parametrize(("elevation", "azimuth"), [(0.0, 0.0), (15.0, 90.0), (30.0, 200.0), (-10.0, 315.0)])
def test_camera_matches_mvdream_get_camera(elevation: float, azimuth: float) -> None:
    cams = Cameras.from_spherical(torch.tensor([elevation]), torch.tensor([azimuth - 90.0]), torch.tensor([3.5]),
                                  40.0, 32)
    cond = mvdream_camera(cams)
    np.testing.assert_allclose(cond[0].numpy(), reference_get_camera(elevation, azimuth), atol=1e-5)
    assert torch.allclose(cond.reshape(-1, 4, 4)[:, :3, 3].norm(dim=-1), torch.ones(1))


def tiny_unet(num_frames_seed: int = 0) -> MultiViewUNet:
    torch.manual_seed(num_frames_seed)
    return MultiViewUNet(**TINY_MV_UNET).eval()


def test_self_attention_spans_the_views_of_a_sample() -> None:
    unet = tiny_unet()
    x, ctx, cam = torch.randn(4, 4, 8, 8), torch.randn(4, 5, 32), torch.randn(4, 16)
    t = torch.full((4,), 500)
    x2 = x.clone()
    x2[2] += 1.0
    with torch.no_grad():
        joint, joint2 = unet(x, t, ctx, cam, num_frames=4), unet(x2, t, ctx, cam, num_frames=4)
        single, single2 = unet(x, t, ctx, cam, num_frames=1), unet(x2, t, ctx, cam, num_frames=1)
        perm = torch.tensor([2, 0, 3, 1])
        permuted = unet(x[perm], t, ctx[perm], cam[perm], num_frames=4)
    assert (joint[0] - joint2[0]).abs().max() > 1e-4  # view 2 influences view 0 when views are joint
    torch.testing.assert_close(single[0], single2[0])  # ...and not when they are independent
    torch.testing.assert_close(permuted, joint[perm], atol=1e-5, rtol=1e-5)


def test_converter_maps_every_original_key_and_matches_direct_load(tmp_path: Path) -> None:
    original = original_mvdream_state_dict(TINY_MV_UNET)
    converted = convert_original_unet(original)
    expected = set(MultiViewUNet(**TINY_MV_UNET).state_dict())
    assert set(converted) == expected  # no missing, no unexpected keys
    assert len(converted) == sum(k.startswith("model.diffusion_model.") for k in original)
    direct = MultiViewUNet(**TINY_MV_UNET).eval().requires_grad_(False)  # frozen like a loaded prior
    direct.load_state_dict(converted, strict=True)

    save_file(original, str(tmp_path / "sd-v2.1-base-4view.safetensors"))
    base = save_sd(tmp_path / "sd21-base")
    out = convert_mvdream_checkpoint(tmp_path / "sd-v2.1-base-4view.safetensors", tmp_path / "mvdream", base=str(base),
                                     unet_config=TINY_MV_UNET)
    prior = MVDreamConfig(model=str(out), load=LoadOptions(device="cpu", cache_prompts=False)).build()
    x, ctx, cam, t = torch.randn(4, 4, 8, 8), torch.randn(4, 77, 32), torch.randn(4, 16), torch.full((4,), 321)
    with torch.no_grad():
        torch.testing.assert_close(prior.unet(x, t, ctx, cam, num_frames=4), direct(x, t, ctx, cam, num_frames=4),
                                   atol=0, rtol=0)


def test_converter_handles_the_sd15_variant() -> None:
    original = original_mvdream_state_dict(TINY_MV_UNET_SD15)
    unet = load_converted_unet(original, TINY_MV_UNET_SD15)
    assert unet.input_blocks[1][1].proj_in.weight.shape == (8, 8, 1, 1)
    assert unet.input_blocks[1][1].transformer_blocks[0].attn2.to_k.weight.shape == (8, 24)
    x, ctx, cam, t = torch.randn(4, 4, 8, 8), torch.randn(4, 7, 24), torch.randn(4, 16), torch.full((4,), 5)
    with torch.no_grad():
        assert torch.isfinite(unet(x, t, ctx, cam, num_frames=4)).all()


def test_converter_rejects_mismatches_and_pickles(tmp_path: Path) -> None:
    with pytest.raises(LiftError, match="not an original MVDream"):
        convert_original_unet({"unet.conv_in.weight": torch.zeros(1)})
    with pytest.raises(LiftError, match="does not match the UNet config"):
        load_converted_unet(original_mvdream_state_dict(TINY_MV_UNET), {**TINY_MV_UNET, "num_res_blocks": 2})
    with pytest.raises(LiftError, match="never unpickles"):
        convert_mvdream_checkpoint(tmp_path / "sd-v2.1-base-4view.pt", tmp_path / "out")


@pytest.fixture(scope="module")
def prior(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = save_mvdream(tmp_path_factory.mktemp("mv") / "mvdream-sd2.1-diffusers")
    return MVDreamConfig(model=str(folder), load=LoadOptions(device="cpu", cache_prompts=False)).build()


def four_views(distance: float = 2.0) -> Cameras:
    return Cameras.from_spherical(torch.full((4,), 15.0), torch.tensor([30.0, 120.0, 210.0, 300.0]),
                                  torch.full((4,), distance), 40.0, 16)


def test_one_sds_step_with_four_views(prior: object) -> None:
    assert prior.resolution == 16 and prior.num_frames == 4
    cams = four_views()
    cond = prior.prompt("a dog", view_dependent=False).conditions(cams)
    images = torch.rand(4, 16, 16, 3, requires_grad=True)
    sds = SDSConfig(guidance_scale=50.0, timesteps=TimestepSchedule(shared=True)).build(prior)
    seen: list[tuple] = []
    hook = prior.unet.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    out = sds(images, cond, cams, generator=torch.Generator().manual_seed(0))
    hook.remove()
    (x_in, t_in, context, camera), kwargs = seen[0]
    assert x_in.shape == (8, 4, 8, 8) and kwargs["num_frames"] == 4  # 2 branches x one 4-view group
    torch.testing.assert_close(camera[:4], camera[4:])  # both CFG halves see the same cameras
    torch.testing.assert_close(camera, mvdream_camera(cams).repeat(2, 1))
    assert not torch.equal(context[:4], context[4:])  # ...but different text
    out.loss.backward()
    assert torch.isfinite(out.loss) and images.grad.abs().sum() > 0
    assert (out.logs["t"] == out.logs["t"][0]).all()


def test_camera_condition_is_scale_free_and_batches_are_checked(prior: object) -> None:
    torch.testing.assert_close(prior.camera_condition(four_views(2.0)), prior.camera_condition(four_views(5.0)))
    cams = four_views()
    cond = prior.prompt("a dog", view_dependent=False).conditions(cams)
    cond = cond.with_(camera=prior.camera_condition(cams))
    x = torch.randn(4, 4, 8, 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        prior.predict(x[:3], torch.full((3,), 10), cond.with_(text=cond.text[:3], uncond=cond.uncond[:3],
                                                             camera=cond.camera[:3]), [Branch.TEXT])
    with pytest.raises(ValueError, match="one timestep"):
        prior.predict(x, torch.tensor([10, 10, 10, 20]), cond, [Branch.TEXT])
