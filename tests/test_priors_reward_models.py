"""Reward models loaded from hub-layout folders: CLIP score and the LAION aesthetic head."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from priors_fixtures import save_clip_model
from safetensors.torch import save_file

from lift3d.priors.base import Conditions
from lift3d.priors.reward_models import AestheticMLP, load_aesthetic_reward, load_clip_reward
from lift3d.priors.rewards import RewardModel
from lift3d.types import LiftError


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_clip_model(tmp_path_factory.mktemp("clip") / "clip-vit-large-patch14")


def test_clip_reward_is_cosine_of_prompt_and_image(clip_folder: Path) -> None:
    reward = load_clip_reward("a photo of a dog", model=str(clip_folder))
    assert isinstance(reward, RewardModel)
    images = torch.rand(3, 20, 20, 3)
    scores = reward(images, Conditions())
    assert scores.shape == (3,) and (scores.abs() <= 1 + 1e-5).all()
    model = reward.model  # recompute by hand at the model's 16 px input
    x = F.interpolate(images.permute(0, 3, 1, 2), size=(16, 16), mode="bicubic", align_corners=False)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(1, 3, 1, 1)
    with torch.no_grad():
        img = model.get_image_features(pixel_values=(x - mean) / std)
    img = F.normalize(getattr(img, "pooler_output", img), dim=-1)
    torch.testing.assert_close(scores, img @ reward.text_features[0], atol=1e-5, rtol=1e-5)


def test_aesthetic_head_from_safetensors(clip_folder: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    head = AestheticMLP(12)
    assert [k for k in head.state_dict() if k.endswith("weight")] == [
        "layers.0.weight", "layers.2.weight", "layers.4.weight", "layers.6.weight", "layers.7.weight"]
    save_file(head.state_dict(), str(tmp_path / "aesthetic.safetensors"))
    reward = load_aesthetic_reward(tmp_path / "aesthetic.safetensors", model=str(clip_folder))
    images = torch.rand(2, 16, 16, 3)
    scores = reward(images, Conditions())
    with torch.no_grad():
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(1, 3, 1, 1)
        x = F.interpolate(images.permute(0, 3, 1, 2), size=(16, 16), mode="bicubic", align_corners=False)
        feats = reward.model.get_image_features(pixel_values=(x - mean) / std)
        expected = head.eval()(F.normalize(getattr(feats, "pooler_output", feats), dim=-1))
    torch.testing.assert_close(scores, expected)


def test_missing_reward_models_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LiftError, match="CLIP reward model 'nobody/clip' not found"):
        load_clip_reward("a dog", model="nobody/clip")
    with pytest.raises(LiftError, match="never unpickles"):
        load_aesthetic_reward(tmp_path / "sac+logos+ava1-l14-linearMSE.pth")
