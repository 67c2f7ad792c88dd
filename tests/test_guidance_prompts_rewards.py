"""View-dependent prompt selection and the reward models used by reward-weighted distillation."""

from __future__ import annotations

import torch

from lift3d.cameras import Cameras
from lift3d.priors import CLIPReward, Conditions, PromptEmbeddings, TargetReward
from lift3d.priors.prompts import view_prompt
from lift3d.sampling import View


def test_view_dependent_selection() -> None:
    vocab: dict[str, int] = {}

    def encode(texts):  # each distinct string -> its own index "embedding"
        return torch.tensor([vocab.setdefault(s, len(vocab)) for s in texts])

    emb = PromptEmbeddings.encode(encode, "a cat", negative="blurry")
    cams = Cameras.from_spherical(torch.tensor([0.0, 0.0, 0.0, 70.0]), torch.tensor([10.0, 90.0, 180.0, 0.0]),
                                  torch.full((4,), 3.0), 40.0, 8)
    c = emb.conditions(cams)
    views = [View.FRONT, View.SIDE, View.BACK, View.OVERHEAD]
    assert c.text.tolist() == [vocab[view_prompt("a cat", v)] for v in views]
    assert c.view_independent.tolist() == [vocab["a cat"]] * 4
    assert c.uncond.tolist() == [vocab[""]] * 4 and c.negative.tolist() == [vocab["blurry"]] * 4
    assert emb.conditions(batch=2).text.tolist() == [vocab["a cat"]] * 2  # no cameras: plain prompt


def test_target_reward_prefers_target() -> None:
    target = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    reward = TargetReward(target)
    other = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    r = reward(torch.cat([target, other]), Conditions())
    assert r[0].item() == 0.0
    torch.testing.assert_close(r[1], -((other - target) ** 2).mean())
    assert r[1].item() < -0.01


def test_clip_reward_is_cosine_similarity() -> None:
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                     "num_hidden_layers": 2, "vocab_size": 99, "projection_dim": 16},
                        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                       "num_hidden_layers": 2, "image_size": 16, "patch_size": 8,
                                       "projection_dim": 16}, projection_dim=16)
    model = CLIPModel(config)
    ids = torch.tensor([[0, 5, 7, 2]])
    reward = CLIPReward(model, ids)
    images = torch.rand(3, 20, 20, 3, generator=torch.Generator().manual_seed(1))
    r = reward(images, Conditions())
    assert r.shape == (3,) and torch.all(r.abs() <= 1 + 1e-5) and torch.isfinite(r).all()
    assert not torch.allclose(r[0], r[1])
    with torch.no_grad():
        x = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=(16, 16), mode="bicubic")
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(1, 3, 1, 1)
        out = model(input_ids=ids, pixel_values=(x - mean) / std)
    torch.testing.assert_close(r, out.logits_per_image[:, 0] / model.logit_scale.exp(), rtol=1e-4, atol=1e-5)
