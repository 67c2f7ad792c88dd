"""Reward models: ``RewardModel(images [B, H, W, 3] in [0, 1], conditions) -> [B]`` (higher is better).

Preprocessing (resize, normalisation) lives inside each reward. Used by reward-weighted score
distillation (:mod:`lift3d.guidance.reward`), always under ``no_grad`` there.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from lift3d.priors.base import Conditions


@runtime_checkable
class RewardModel(Protocol):
    """Scores a batch of images; ``[B, H, W, 3]`` in [0, 1] -> ``[B]``."""

    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor: ...


class ContrastReward:
    """Per-image standard deviation of pixel values (an analytic "vividness" score, no weights)."""

    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        return images.flatten(1).std(dim=1)


class TargetReward:
    """Negative mean squared distance to target images ``[1 or B, H, W, 3]`` (resized to match)."""

    def __init__(self, target: torch.Tensor) -> None:
        if target.ndim != 4 or target.shape[-1] != 3:
            raise ValueError(f"target must be [B, H, W, 3] in [0, 1], got {tuple(target.shape)}")
        self.target = target

    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        target = self.target.to(images)
        if target.shape[1:3] != images.shape[1:3]:
            target = F.interpolate(target.permute(0, 3, 1, 2), size=images.shape[1:3], mode="bilinear",
                                   align_corners=False).permute(0, 2, 3, 1)
        return -((images - target) ** 2).flatten(1).mean(dim=1)


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPReward:
    """CLIP score: cosine similarity between image and prompt embeddings of a transformers ``CLIPModel``.

    "Learning Transferable Visual Models From Natural Language Supervision", Radford et al., arXiv 2103.00020.

    Args:
        model: a ``transformers.CLIPModel`` (a real checkpoint or a tiny one built from config).
        input_ids: ``[1, L]`` tokenised prompt (``CLIPTokenizer(prompt, return_tensors="pt").input_ids``).
    """

    def __init__(self, model: Any, input_ids: torch.Tensor) -> None:
        self.model = model.eval().requires_grad_(False)
        with torch.no_grad():
            text = model.get_text_features(input_ids=input_ids)
        self.text_features = F.normalize(getattr(text, "pooler_output", text), dim=-1)
        self.size = int(model.config.vision_config.image_size)

    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2)
        x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=x.device).reshape(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).reshape(1, 3, 1, 1)
        feats = self.model.get_image_features(pixel_values=((x - mean) / std).to(self.model.dtype))
        feats = F.normalize(getattr(feats, "pooler_output", feats).float(), dim=-1)
        return (feats * self.text_features.to(feats)).sum(-1)
