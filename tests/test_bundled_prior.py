"""The bundled prior's tokenizer, data, training loop (exact resume) and folder format."""

from pathlib import Path

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.priors.base import Branch
from lift3d.priors.bundled import (
    BundledArchitecture,
    BundledPrior,
    build_tokenizer,
    camera_condition,
    camera_condition_from_angles,
    caption_vocabulary,
)
from lift3d.train.prior import TrainPriorConfig, train_prior
from lift3d.train.prior_data import PriorDataConfig, render_prior_data

TINY = BundledArchitecture(resolution=16, block_out_channels=(16, 32), text_dim=32, text_layers=1)
TINY_DATA = PriorDataConfig(seeds_per_family=1, views_per_object=2, resolution=16)


def test_tokenizer_keeps_every_caption_word_whole() -> None:
    words = caption_vocabulary()
    tok = build_tokenizer(words)
    assert {"crimson", "donut", "toadstool", "cube"} <= set(words)
    for w in words:
        if w.isalpha():
            assert len(tok(w, add_special_tokens=False).input_ids) == 1, w
    ids = tok("a crimson donut").input_ids
    assert tok.convert_ids_to_tokens(ids)[1:-1] == ["a</w>", "crimson</w>", "donut</w>"]


def test_colour_applied_at_batch_time_equals_rendering_in_colour() -> None:
    from lift3d.data import FAMILIES, colour, procedural_object, render_object

    gen = torch.Generator().manual_seed(0)
    data = render_prior_data(PriorDataConfig(seeds_per_family=1, views_per_object=2, resolution=16), gen)
    i = 2 * list(FAMILIES).index("torus")
    cams = Cameras.from_spherical(data.elevation[i:i + 1], data.azimuth[i:i + 1], torch.tensor([2.75]), 40.0, 16)
    rgb = torch.tensor(colour("blue").rgb)
    direct = render_object(procedural_object("torus", "blue", seed=1), cams).rgb
    torch.testing.assert_close(data.images(torch.tensor([i]), rgb[None]), direct, atol=1e-5, rtol=0)


def test_camera_condition_convention() -> None:
    cams = Cameras.from_spherical(torch.tensor([30.0, 0.0]), torch.tensor([90.0, 0.0]), torch.tensor([2.75, 2.75]),
                                  40.0, 16)
    c = camera_condition(cams, 2)
    torch.testing.assert_close(c[0], torch.tensor([torch.pi / 6, 1.0, 0.0, 0.0, -1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(c[1], torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0]), atol=1e-5, rtol=0)
    # four harmonics: the two-harmonic layout is a prefix; az 90 -> (sin, cos) of 270 and 360 degrees follow
    c4 = camera_condition(cams, 4)
    assert c4.shape == (2, 9)
    torch.testing.assert_close(c4[:, :5], c, atol=0, rtol=0)
    torch.testing.assert_close(c4[0, 5:], torch.tensor([-1.0, 0.0, 0.0, 1.0]), atol=1e-5, rtol=0)
    # a square object's yaw (a function of 4 az) is a single feature pair: az and az + 90 agree there only
    turned = camera_condition_from_angles(torch.tensor([30.0]), torch.tensor([180.0]), 4)
    torch.testing.assert_close(turned[0, 7:], c4[0, 7:], atol=1e-5, rtol=0)
    assert not torch.allclose(turned[0, 1:7], c4[0, 1:7], atol=1e-3)


def _cfg(out: Path, steps: int, **kw) -> TrainPriorConfig:
    kw.setdefault("architecture", TINY)
    return TrainPriorConfig(output=out, steps=steps, batch_size=4, checkpoint_every=2, quiet=True, threads=0,
                            captions_per_label=2, data=TINY_DATA, **kw)


@pytest.mark.slow
def test_train_prior_resumes_bit_identically_and_exports(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    straight = train_prior(_cfg(tmp_path / "a", 4))
    train_prior(_cfg(tmp_path / "b", 2))
    resumed = train_prior(_cfg(tmp_path / "b", 4, resume=True, export_to=tmp_path / "export"))
    a = load_file(str(straight / "ckpt/step_00000004/state.safetensors"))
    b = load_file(str(resumed / "ckpt/step_00000004/state.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    losses = [line for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 4

    train_prior(_cfg(tmp_path / "b", 4, export_only=True, export_to=tmp_path / "export2"))
    for sub in ("unet", "text_encoder"):
        w1 = load_file(str(next((tmp_path / "export" / sub).glob("*.safetensors"))))
        w2 = load_file(str(next((tmp_path / "export2" / sub).glob("*.safetensors"))))
        assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)

    prior = BundledPrior.from_pretrained(tmp_path / "export")
    assert prior.resolution == 16 and prior.channels == 3
    cams = Cameras.from_spherical(torch.tensor([10.0, 20.0]), torch.tensor([0.0, 180.0]), torch.tensor([2.75] * 2),
                                  40.0, 16)
    cond = prior.conditions("a red cube", cams)
    x = prior.encode(torch.rand(2, 16, 16, 3))
    out = prior.predict(prior.add_noise(x, torch.tensor([500, 500]), torch.randn_like(x)), torch.tensor([500, 500]),
                        cond, [Branch.TEXT, Branch.UNCOND])
    assert out[Branch.TEXT].shape == (2, 3, 16, 16) and torch.isfinite(out[Branch.TEXT]).all()
    assert not torch.equal(out[Branch.TEXT], out[Branch.UNCOND])


def test_missing_bundled_prior_is_a_clear_error(tmp_path: Path) -> None:
    from lift3d.types import LiftError

    with pytest.raises(LiftError, match="no bundled prior .* train-prior"):
        BundledPrior.from_pretrained(tmp_path)


def test_plucker_raymap_lines_pass_through_what_each_pixel_sees() -> None:
    """Every pixel's Plücker line ``(d, m)`` contains the camera centre and any world point that projects
    into that pixel (``X x d = m``); the ray map the bundled prior rebuilds from its camera condition is the
    training camera's."""
    from lift3d.priors.bundled import raymap_from_condition
    from lift3d.priors.raymap import plucker_raymap

    R = 33  # odd: the centre pixel's ray is the optical axis
    cams = Cameras.from_spherical(torch.tensor([25.0, -8.0]), torch.tensor([40.0, 250.0]), torch.tensor([2.75] * 2),
                                  40.0, R)
    rays = plucker_raymap(cams)
    assert rays.shape == (2, 6, R, R)
    d, m = rays[:, :3], rays[:, 3:]
    torch.testing.assert_close(d.norm(dim=1), torch.ones(2, R, R), atol=1e-5, rtol=0)
    torch.testing.assert_close((d * m).sum(dim=1), torch.zeros(2, R, R), atol=1e-5, rtol=0)
    centre = cams.positions
    axis = d[:, :, R // 2, R // 2]
    torch.testing.assert_close(axis, -centre / centre.norm(dim=-1, keepdim=True), atol=1e-5, rtol=0)
    torch.testing.assert_close(m[:, :, R // 2, R // 2], torch.zeros(2, 3), atol=1e-5, rtol=0)
    points = torch.tensor([[[0.3, -0.2, 0.1], [-0.4, 0.35, -0.25]]]).expand(2, -1, -1)
    uv, _ = cams.project(points)
    for b in range(2):
        for k in range(2):
            # the pixel the point falls in: its line passes through the camera centre ...
            i, j = int(uv[b, k, 0]), int(uv[b, k, 1])
            dk, mk = d[b, :, j, i], m[b, :, j, i]
            torch.testing.assert_close(torch.linalg.cross(centre[b], dk, dim=-1), mk, atol=1e-5, rtol=0)
            # and the point itself lies within a pixel's width of that line
            off = torch.linalg.cross(points[b, k], dk, dim=-1) - mk
            assert off.norm() < 2.75 * 2 * torch.tan(torch.deg2rad(torch.tensor(20.0))) / R
    cond = camera_condition(cams, 4)
    torch.testing.assert_close(raymap_from_condition(cond, R), rays, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_init_from_an_export_with_fewer_harmonics_starts_at_its_function(tmp_path: Path) -> None:
    """Fine-tuning a two-harmonic export without a ray map with four harmonics and a ray map starts from
    exactly the exported model; a mismatched architecture is a one-line error."""
    from dataclasses import replace

    from lift3d.priors.ddim import ddim_sample  # noqa: F401  (the public sampler path must import)
    from lift3d.types import LiftError

    two = replace(TINY, azimuth_harmonics=2)
    train_prior(_cfg(tmp_path / "a", 2, architecture=two, export_to=tmp_path / "exp2"))
    old = BundledPrior.from_pretrained(tmp_path / "exp2")
    assert old.azimuth_harmonics == 2
    # zero steps: the run's export is the loaded model itself
    ray = replace(TINY, camera_raymap=True)
    train_prior(_cfg(tmp_path / "b", 0, init_from=tmp_path / "exp2", export_to=tmp_path / "exp4", architecture=ray))
    new = BundledPrior.from_pretrained(tmp_path / "exp4")
    assert new.azimuth_harmonics == 4 and new.raymap and not old.raymap
    assert new.unet.config.in_channels == 9 and new.channels == 3
    index = (tmp_path / "exp4" / "model_index.json").read_text()
    assert "sin_4az" in index and "sin_4az" not in (tmp_path / "exp2" / "model_index.json").read_text()
    assert "plucker_moment" in index
    cams = Cameras.from_spherical(torch.tensor([10.0, 50.0, -5.0]), torch.tensor([0.0, 45.0, 200.0]),
                                  torch.full((3,), 2.75), 40.0, 16)
    cond_old = old.conditions("a red cube", cams)
    cond_new = new.conditions("a red cube", cams)
    assert cond_old.camera.shape == (3, 5) and cond_new.camera.shape == (3, 9)
    x_t = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([100, 500, 900])
    a = old.predict(x_t, t, cond_old, [Branch.TEXT, Branch.UNCOND])
    b = new.predict(x_t, t, cond_new, [Branch.TEXT, Branch.UNCOND])
    for br in (Branch.TEXT, Branch.UNCOND):
        torch.testing.assert_close(a[br], b[br], atol=1e-5, rtol=1e-5)
    # the new inputs are live: one training step moves their weights off zero
    run = train_prior(_cfg(tmp_path / "c", 1, init_from=tmp_path / "exp2", architecture=ray))
    from safetensors.torch import load_file

    state = load_file(str(run / "ckpt/step_00000001/state.safetensors"))
    w = state["unet.class_embedding.linear_1.weight"]
    assert w.shape[1] == 9 and w[:, 5:].abs().max() > 0
    conv = state["unet.conv_in.weight"]
    assert conv.shape[1] == 9 and conv[:, 3:].abs().max() > 0
    # the ray map is read: zeroing its trained input weights changes the prediction
    trained = BundledPrior(*_unet_and_text(state, ray))
    cond = trained.conditions("a red cube", cams)
    plain = trained.forward_unet(x_t, t, cond.text, cond.camera)
    rays_off = BundledPrior(*_unet_and_text(state, ray, zero_rays=True)).forward_unet(x_t, t, cond.text, cond.camera)
    assert not torch.allclose(plain, rays_off, atol=1e-7)
    with pytest.raises(LiftError, match="does not match --architecture"):
        train_prior(_cfg(tmp_path / "d", 1, init_from=tmp_path / "exp2",
                         architecture=replace(TINY, text_dim=16)))


def _unet_and_text(state: dict[str, torch.Tensor], arch: BundledArchitecture, zero_rays: bool = False) -> tuple:
    """(unet, scheduler, text encoder, tokenizer) of a training checkpoint's live weights."""
    tokenizer = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    unet, text = arch.unet(), arch.text_encoder(len(tokenizer))
    unet.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("unet.")})
    text.load_state_dict({k[13:]: v for k, v in state.items() if k.startswith("text_encoder.")}, strict=False)
    if zero_rays:
        with torch.no_grad():
            unet.conv_in.weight[:, 3:] = 0
    return unet, arch.scheduler(), text, tokenizer
