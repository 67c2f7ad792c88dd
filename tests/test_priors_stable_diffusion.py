"""Stable Diffusion loader: tiny hub-layout folders, prompts, v-prediction, one SDS step, hub errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from priors_fixtures import save_sd, sd_scheduler_config, write_json

from lift3d.cameras import Cameras
from lift3d.guidance.sds import SDSConfig
from lift3d.priors.base import Branch, PredictionType, sd_alphas_cumprod
from lift3d.priors.stable_diffusion import LoadOptions, StableDiffusionConfig
from lift3d.types import LiftError


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sd(tmp_path_factory.mktemp("sd") / "stable-diffusion-2-1-base")


def build(folder: Path, cache: Path | None = None, **kw: object) -> object:
    load = LoadOptions(device="cpu", cache_prompts=cache is not None, cache_dir=None if cache is None else str(cache))
    return StableDiffusionConfig(model=str(folder), load=load, **kw).build()


def test_loads_hub_layout_and_schedule(sd_folder: Path) -> None:
    prior = build(sd_folder)
    assert prior.prediction_type is PredictionType.EPSILON
    assert prior.channels == 4 and prior.resolution == 16 and prior.unet.dtype == torch.float32
    torch.testing.assert_close(prior.alphas_cumprod, sd_alphas_cumprod())
    assert not any(p.requires_grad for p in prior.parameters())


def test_prompt_embeddings_are_cached_on_disk(sd_folder: Path, tmp_path: Path) -> None:
    prior = build(sd_folder, cache=tmp_path)
    emb = prior.encode_text(["a dog", "", "a dog, front view"])
    assert emb.shape == (3, 77, 32)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 3
    # distinct prompts give distinct states; a second encoder reads the files (no text-encoder call)
    assert not torch.allclose(emb[0], emb[1])
    again = build(sd_folder, cache=tmp_path)
    again.prompt_encoder.model = None  # any encoder call would now fail
    torch.testing.assert_close(again.encode_text(["a dog, front view", "a dog"]), emb[[2, 0]])


def test_view_dependent_conditions_and_one_sds_step(sd_folder: Path) -> None:
    prior = build(sd_folder)
    prompt = prior.prompt("a hamburger", negative="blurry")
    cams = Cameras.from_spherical(torch.tensor([10.0, 10.0]), torch.tensor([0.0, 180.0]), torch.tensor([2.0, 2.0]),
                                  40.0, 16)
    cond = prompt.conditions(cams)
    front, back = prior.encode_text(["a hamburger, front view", "a hamburger, back view"])
    torch.testing.assert_close(cond.text[0], front)
    torch.testing.assert_close(cond.text[1], back)
    images = torch.rand(2, 16, 16, 3, requires_grad=True)
    out = SDSConfig(guidance_scale=7.5).build(prior)(images, cond, cams, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and images.grad is not None and images.grad.abs().sum() > 0


def test_v_prediction_is_converted_to_epsilon(sd_folder: Path, tmp_path: Path) -> None:
    v_folder = tmp_path / "v"
    shutil.copytree(sd_folder, v_folder)
    write_json(v_folder / "scheduler" / "scheduler_config.json", sd_scheduler_config("v_prediction"))
    eps_prior, v_prior = build(sd_folder), build(v_folder)
    assert v_prior.prediction_type is PredictionType.V
    x = torch.randn(2, 4, 8, 8)
    t = torch.tensor([100, 900])
    text = eps_prior.encode_text(["a dog"]).expand(2, -1, -1)
    cond = eps_prior.prompt("a dog").conditions(batch=2).with_(text=text)
    raw = eps_prior.predict(x, t, cond, [Branch.TEXT])[Branch.TEXT]  # same weights: raw output read as v
    abar = sd_alphas_cumprod()[t].reshape(-1, 1, 1, 1)
    expected = abar.sqrt() * raw + (1 - abar).sqrt() * x
    torch.testing.assert_close(v_prior.predict(x, t, cond, [Branch.TEXT])[Branch.TEXT], expected)


def test_missing_model_is_one_clear_liferror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(LiftError) as info:
        build(Path("nobody/no-such-model"))
    msg = str(info.value)
    assert "\n" not in msg and "'nobody/no-such-model'" in msg and str(tmp_path / "hf") in msg
    assert "hf download nobody/no-such-model" in msg and "HF_HUB_OFFLINE" in msg


def test_incomplete_folder_and_half_on_cpu_are_clear_errors(sd_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(LiftError, match="lacks unet/config.json"):
        build(tmp_path)
    with pytest.raises(LiftError, match="needs a CUDA device"):
        StableDiffusionConfig(model=str(sd_folder), load=LoadOptions(device="cpu", dtype="float16")).build()
    with pytest.raises(LiftError, match="cpu_offload needs a CUDA device"):
        StableDiffusionConfig(model=str(sd_folder), load=LoadOptions(device="cpu", cpu_offload=True)).build()


def test_text_states_match_diffusers_pipeline_encode_prompt(sd_folder: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(sd_folder, safety_checker=None, requires_safety_checker=False)
    cond, neg = pipe.encode_prompt("a photo of a dog", torch.device("cpu"), 1, True, negative_prompt="blurry")
    ours = build(sd_folder).encode_text(["a photo of a dog", "blurry"])
    torch.testing.assert_close(ours, torch.cat([cond, neg]))


def test_cpu_offload_hooks_give_identical_outputs(sd_folder: Path) -> None:
    """accelerate's offload leaves weights on the meta device; encode/predict/text must still work (on CUDA the
    execution device is the GPU; CPU execution exercises the same hooks)."""
    from lift3d.priors.stable_diffusion import place

    prior = build(sd_folder)
    images, x = torch.rand(2, 16, 16, 3), torch.randn(2, 4, 8, 8)
    t = torch.tensor([10, 500])
    cond = prior.prompt("a dog", view_dependent=False).conditions(batch=2)
    before = (prior.encode(images), prior.predict(x, t, cond, [Branch.TEXT])[Branch.TEXT], prior.encode_text(["a cat"]))
    for module in (prior.unet, prior.vae, prior.prompt_encoder.model):
        place(module, torch.device("cpu"), offload=True)
    assert next(prior.unet.parameters()).device.type == "meta"
    after = (prior.encode(images), prior.predict(x, t, cond, [Branch.TEXT])[Branch.TEXT], prior.encode_text(["a cat"]))
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_configs_work_as_pipeline_prior_specs_and_round_trip(sd_folder: Path) -> None:
    from lift3d.config import from_dict, to_dict
    from lift3d.priors.deepfloyd import DeepFloydIFConfig
    from lift3d.priors.mvdream import MVDreamConfig

    spec = StableDiffusionConfig(model=str(sd_folder), load=LoadOptions(device="meta", cache_prompts=False))
    prior = spec.build(torch.device("cpu"))  # the pipeline's device wins over load.device
    assert prior.alphas_cumprod.device.type == "cpu"
    assert spec.text_encoder(prior)(["a dog"]).shape == (1, 77, 32)
    assert not spec.camera_conditioned and MVDreamConfig().camera_conditioned and spec.light is None
    for cfg in (spec, MVDreamConfig(num_frames=4), DeepFloydIFConfig(load=LoadOptions(dtype="bfloat16"))):
        data = to_dict(cfg)
        assert from_dict(type(cfg), data) == cfg
