"""DeepFloyd IF stage I loader: pixel space, learned-variance output, cosine schedule, one SDS step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from priors_fixtures import save_deepfloyd

from lift3d.guidance.sds import SDSConfig
from lift3d.priors.base import Branch
from lift3d.priors.deepfloyd import DeepFloydIFConfig
from lift3d.priors.stable_diffusion import LoadOptions


@pytest.fixture(scope="module")
def if_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_deepfloyd(tmp_path_factory.mktemp("if") / "IF-I-XL-v1.0")


@pytest.fixture(scope="module")
def prior(if_folder: Path) -> object:
    load = LoadOptions(device="cpu", cache_dir=str(if_folder.parent / "cache"))
    return DeepFloydIFConfig(model=str(if_folder), load=load).build()


def test_pixel_space_and_cosine_schedule(prior: object) -> None:
    assert prior.vae is None and prior.channels == 3 and prior.resolution == 8
    images = torch.rand(2, 20, 20, 3)
    x = prior.encode(images)
    assert x.shape == (2, 3, 8, 8) and x.min() >= -1 and x.max() <= 1
    # squaredcos_cap_v2: abar_t ~ cos^2((t/T + s) / (1 + s) * pi / 2) / cos^2(s / (1 + s) * pi / 2), s = 0.008
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert abs(prior.alphas_cumprod[499].item() - f(500) / f(0)) < 2e-3


def test_epsilon_is_first_three_channels_of_learned_variance_output(prior: object) -> None:
    text = prior.encode_text(["a dog"])
    assert text.shape == (1, 77, 16)
    x, t = torch.randn(1, 3, 8, 8), torch.tensor([300])
    cond = prior.prompt("a dog", view_dependent=False).conditions(batch=1)
    eps = prior.predict(x, t, cond, [Branch.TEXT])[Branch.TEXT]
    with torch.no_grad():
        raw = prior.unet(x, t, encoder_hidden_states=text).sample
    assert raw.shape[1] == 6
    torch.testing.assert_close(eps, raw[:, :3])


def test_padding_mask_reaches_t5(prior: object) -> None:
    # with the mask, padding tokens cannot change the states of the real tokens
    tok = prior.prompt_encoder.tokenizer(["a dog"], padding="max_length", max_length=77, return_tensors="pt")
    n = int(tok.attention_mask.sum())
    full = prior.encode_text(["a dog"])[0, :n]
    with torch.no_grad():
        short = prior.prompt_encoder.model(tok.input_ids[:, :n]).last_hidden_state[0]
    torch.testing.assert_close(full, short, atol=1e-5, rtol=1e-5)


def test_one_sds_step(prior: object) -> None:
    cond = prior.prompt("a cat", negative="blurry", view_dependent=False).conditions(batch=2)
    images = torch.rand(2, 8, 8, 3, requires_grad=True)
    out = SDSConfig(guidance_scale=20.0).build(prior)(images, cond, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and images.grad.abs().sum() > 0
    assert list(Path(prior.prompt_encoder.cache.folder).glob("*.safetensors"))


def test_text_states_match_diffusers_if_pipeline(prior: object, if_folder: Path) -> None:
    from diffusers import IFPipeline

    pipe = IFPipeline.from_pretrained(if_folder, safety_checker=None, watermarker=None, feature_extractor=None,
                                      requires_safety_checker=False)
    cond, neg = pipe.encode_prompt("a dog", do_classifier_free_guidance=True, negative_prompt="blurry",
                                   device=torch.device("cpu"), clean_caption=False)
    torch.testing.assert_close(prior.encode_text(["a dog", "blurry"]), torch.cat([cond, neg]))


def test_spiece_only_tokenizer_without_sentencepiece_is_a_clear_error(if_folder: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import shutil

    from lift3d.types import LiftError

    folder = tmp_path / "IF"
    shutil.copytree(if_folder, folder)
    (folder / "tokenizer" / "tokenizer.json").unlink()
    (folder / "tokenizer" / "spiece.model").write_bytes(b"")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sentencepiece" else real(name, *a))
    with pytest.raises(LiftError, match="pip install sentencepiece"):
        DeepFloydIFConfig(model=str(folder), load=LoadOptions(device="cpu", cache_prompts=False)).build()
