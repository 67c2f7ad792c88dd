"""Dream Fields' CLIP loss (lift3d.guidance.clip_loss): value, gradient direction, and its use in generate."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lift3d.guidance.clip_loss import ClipLoss, ClipLossConfig
from lift3d.priors.base import Conditions
from lift3d.priors.reward_models import load_clip_reward


def test_value_is_weighted_pixels_times_one_minus_cosine() -> None:
    loss = ClipLossConfig(weight=0.5).build("a red cube", torch.device("cpu"))
    images = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    cos = load_clip_reward("a red cube")(images, Conditions())
    torch.testing.assert_close(loss(images), 0.5 * 32 * 32 * (1 - cos).mean())
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        loss(images[0])


def test_descending_the_loss_turns_a_grey_image_into_the_prompted_colour() -> None:
    """Pixels optimized by the bundled model's CLIP loss for "a blue sphere" end up classified blue by the same
    model's zero-shot colour scores, and their mean colour is bluer than it is red or green."""
    loss = ClipLoss(1.0, load_clip_reward("a blue sphere"))
    logits = torch.zeros(1, 32, 32, 3, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    start = loss(torch.sigmoid(logits)).item()
    for _ in range(40):
        opt.zero_grad()
        loss(torch.sigmoid(logits)).backward()
        opt.step()
    image = torch.sigmoid(logits).detach()
    assert loss(image).item() < 0.5 * start
    scores = {c: load_clip_reward(f"a {c} sphere")(image, Conditions()).item() for c in ("blue", "red", "green", "yellow")}
    assert max(scores, key=scores.__getitem__) == "blue"
    mean = image.reshape(-1, 3).mean(0)
    assert mean[2] > mean[0] and mean[2] > mean[1]


def test_generate_adds_the_clip_term_and_it_moves_the_scene(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from test_generate import _cfg

    from lift3d.pipelines.generate import generate

    base = _cfg(tiny_bundled_prior, tmp_path / "plain")
    with_clip = replace(base, output=tmp_path / "clip", stage=replace(base.stage, clip=ClipLossConfig(weight=0.1)))
    (plain,) = generate(base)
    (clip,) = generate(with_clip)
    rows = [json.loads(x) for x in (clip / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < r["clip"] <= 0.1 * 16 * 16 * 2 for r in rows)
    assert all(r["loss"] == pytest.approx(r["guidance"] + r["clip"] + r.get("sparsity", 0) + r.get("entropy", 0),
                                          rel=1e-5) for r in rows)
    config = json.loads((clip / "config.json").read_text())["config"]
    assert config["stage"]["clip"]["weight"] == 0.1
    from safetensors.torch import load_file

    a = load_file(str(plain / "ckpt/step_00000003/state.safetensors"))
    b = load_file(str(clip / "ckpt/step_00000003/state.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("rig."))
    assert F.mse_loss(a["rig.scene.color_voxels"], b["rig.scene.color_voxels"]) > 0
