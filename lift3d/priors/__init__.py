"""Diffusion priors (frozen noise predictors) behind one protocol, plus prompts and rewards.

The light pieces (protocol, analytic priors, prompts, rewards) import eagerly. The loaders of real
checkpoints (Stable Diffusion, DeepFloyd IF, MVDream, Zero-1-to-3, CLIP rewards) pull in diffusers and
transformers, so they are exported lazily (PEP 562 module ``__getattr__``): ``from lift3d.priors import
StableDiffusionConfig`` works, while ``import lift3d.priors`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from lift3d.priors.analytic import AnalyticPrior, GaussianMixture
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, PredictionType
from lift3d.priors.prompts import PromptEmbeddings
from lift3d.priors.rewards import CLIPReward, ContrastReward, RewardModel, TargetReward
from lift3d.priors.unet import UNetPrior

_LAZY: dict[str, str] = {
    "LoadOptions": "lift3d.priors.stable_diffusion",
    "StableDiffusionConfig": "lift3d.priors.stable_diffusion",
    "StableDiffusionPrior": "lift3d.priors.stable_diffusion",
    "DeepFloydIFConfig": "lift3d.priors.deepfloyd",
    "DeepFloydIFPrior": "lift3d.priors.deepfloyd",
    "MVDreamConfig": "lift3d.priors.mvdream",
    "MVDreamPrior": "lift3d.priors.mvdream",
    "mvdream_camera": "lift3d.priors.mvdream",
    "convert_mvdream_checkpoint": "lift3d.priors.mvdream",
    "Zero123Config": "lift3d.priors.zero123",
    "Zero123Prior": "lift3d.priors.zero123",
    "PoseConvention": "lift3d.priors.zero123",
    "ReferenceView": "lift3d.priors.zero123",
    "relative_pose": "lift3d.priors.zero123",
    "resolve_model": "lift3d.priors.hub",
    "EmbeddingCache": "lift3d.priors.embedding_cache",
    "load_clip_reward": "lift3d.priors.reward_models",
    "load_aesthetic_reward": "lift3d.priors.reward_models",
    "AestheticReward": "lift3d.priors.reward_models",
    "BundledPrior": "lift3d.priors.bundled",
    "BUNDLED_PRIOR_DIR": "lift3d.priors.bundled",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lift3d.priors' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AnalyticPrior", "Branch", "CLIPReward", "Conditions", "ContrastReward", "DiffusionPrior", "GaussianMixture",
    "PredictionType", "PromptEmbeddings", "RewardModel", "TargetReward", "UNetPrior", *_LAZY,
]
