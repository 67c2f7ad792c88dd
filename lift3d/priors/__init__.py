"""Diffusion priors (frozen noise predictors) behind one protocol, plus prompts and rewards."""

from lift3d.priors.analytic import AnalyticPrior, GaussianMixture
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, PredictionType
from lift3d.priors.prompts import PromptEmbeddings
from lift3d.priors.rewards import CLIPReward, ContrastReward, RewardModel, TargetReward
from lift3d.priors.unet import UNetPrior

__all__ = [
    "AnalyticPrior", "Branch", "CLIPReward", "Conditions", "ContrastReward", "DiffusionPrior", "GaussianMixture",
    "PredictionType", "PromptEmbeddings", "RewardModel", "TargetReward", "UNetPrior",
]
