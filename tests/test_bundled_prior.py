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
    c = camera_condition(cams)
    torch.testing.assert_close(c[0], torch.tensor([torch.pi / 6, 1.0, 0.0, 0.0, -1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(c[1], torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0]), atol=1e-5, rtol=0)


def _cfg(out: Path, steps: int, **kw) -> TrainPriorConfig:
    return TrainPriorConfig(output=out, steps=steps, batch_size=4, checkpoint_every=2, quiet=True, threads=0,
                            captions_per_label=2, data=TINY_DATA, architecture=TINY, **kw)


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
