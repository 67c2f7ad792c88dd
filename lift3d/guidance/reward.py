"""Reward-weighted score distillation: wraps SDS or VSD (RewardSDS / RewardVSD).

"RewardSDS: Aligning Score Distillation via Reward-Weighted Sampling", Chachy, Yariv, Benaim,
arXiv 2503.09601. Per step: one shared t, N noises; each noise's base gradient ``g_i`` and its
one-step denoised estimate ``x0_i`` (the release runs 15 DDIM steps instead; one step keeps the cost
at N prior calls) are computed, ``x0_i`` is decoded and scored by a reward model, and the gradients
are combined with coefficients from the rewards: "min-max" (the paper's best) ``0.9 mean(top-k) -
0.1 mean(bottom-k)``, "best" (top-1) or "weighted" (``softmax(r / temperature)``). After
``duration * max_steps`` it falls back to the base loss with the first noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import torch

from lift3d.cameras import Cameras
from lift3d.config import choice
from lift3d.guidance.base import Guidance, GuidanceOutput
from lift3d.guidance.functional import TimestepSchedule, broadcast
from lift3d.guidance.sds import SDSConfig
from lift3d.guidance.vsd import VSDConfig
from lift3d.priors.base import Branch, Conditions, DiffusionPrior
from lift3d.priors.rewards import ContrastReward, RewardModel

REAL_CLIP = "openai/clip-vit-large-patch14"
"""The CLIP that scores renders of real priors when ``clip_model`` is empty (the LAION aesthetic predictor's
backbone; RewardSDS, arXiv 2503.09601, scores with ImageReward and CLIP-based models)."""


class RewardSource(str, Enum):
    """What scores the N denoised estimates when no reward model is passed to ``build``."""

    CONTRAST = "contrast"
    """:class:`~lift3d.priors.rewards.ContrastReward`: per-image pixel standard deviation (prompt-blind, no weights)."""
    CLIP = "clip"
    """CLIP score of the prompt (:class:`~lift3d.priors.rewards.CLIPReward`) with ``clip_model``."""


class RewardStrategy(str, Enum):
    """How rewards of the N noise samples become gradient coefficients."""

    MIN_MAX = "min-max"
    BEST = "best"
    WEIGHTED = "weighted"


@dataclass(frozen=True)
class RewardConfig:
    """Reward-weighted SDS/VSD (RewardSDS, arXiv 2503.09601); 2D-experiment defaults of the release."""

    base: choice(SDSConfig, VSDConfig) = field(default_factory=SDSConfig)  # type: ignore[valid-type]
    """The wrapped loss (``stage.guidance.base:sds`` or ``stage.guidance.base:vsd``)."""
    num_noises: int = 8
    """N noise samples per step (7 in the MVDream config, 8 in 2D)."""
    strategy: RewardStrategy = RewardStrategy.MIN_MAX
    """Coefficient rule."""
    top_k: int = 2
    """k of the min-max strategy (needs num_noises >= 2k)."""
    temperature: float = 1.0
    """Softmax temperature of the weighted strategy."""
    duration: float = 1.0
    """Fraction of training with reward weighting (0.7 in the MVDream config)."""
    reward: RewardSource = RewardSource.CLIP
    """The reward model built when none is passed in: text-image alignment of the prompt (CLIP), as RewardSDS
    weights noises; ``contrast`` is a prompt-blind image statistic."""
    clip_model: str = ""
    """CLIP folder or hub id for ``reward=clip``; empty: the bundled reward model (docs/reward_model.md) for the
    bundled prior, :data:`REAL_CLIP` for real priors."""

    @property
    def timesteps(self) -> TimestepSchedule:
        return self.base.timesteps

    @property
    def grad_clip(self) -> object:
        return self.base.grad_clip

    def needs(self) -> frozenset[Branch]:
        """What the wrapped loss needs."""
        return self.base.needs()

    def build(self, prior: DiffusionPrior, reward: RewardModel | None = None,
              prompt: str | None = None) -> RewardGuidance:
        """``reward`` defaults to the configured source; the CLIP source scores against ``prompt``."""
        if reward is None:
            reward = ContrastReward() if self.reward is RewardSource.CONTRAST else self._clip_reward(prior, prompt)
        return RewardGuidance(self, prior, reward)

    def _clip_reward(self, prior: DiffusionPrior, prompt: str | None) -> RewardModel:
        from lift3d.priors.reward_models import load_clip_reward
        from lift3d.types import LiftError

        if not prompt:
            raise LiftError("the CLIP reward (reward=clip) needs the prompt: build(prior, prompt=...)")
        from lift3d.priors.bundled import BundledPrior

        device = str(getattr(prior, "alphas_cumprod", torch.zeros(())).device)
        return load_clip_reward(prompt, self.clip_model_for(isinstance(prior, BundledPrior)), device)

    def clip_model_for(self, bundled_prior: bool) -> str:
        """The CLIP that scores renders for ``reward=clip``: ``clip_model``, else the bundled reward model on the
        bundled prior, else :data:`REAL_CLIP`."""
        from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR

        return self.clip_model or str(BUNDLED_REWARD_DIR if bundled_prior else REAL_CLIP)

    def check_models(self, bundled_prior: bool) -> None:
        """Raise the one-line missing-model error now (before a run starts) if the CLIP reward cannot be found."""
        if self.reward is RewardSource.CLIP:
            from lift3d.priors.hub import resolve_model

            resolve_model(self.clip_model_for(bundled_prior), "CLIP reward model", required=("config.json",))


def reward_coefficients(rewards: torch.Tensor, strategy: RewardStrategy, top_k: int = 2,
                        temperature: float = 1.0) -> torch.Tensor:
    """``[N, B]`` coefficients from rewards ``[N, B]`` (per sample over its N noises)."""
    n = rewards.shape[0]
    strategy = RewardStrategy(strategy)
    if strategy is RewardStrategy.WEIGHTED:
        return torch.softmax(rewards / temperature, dim=0)
    order = rewards.argsort(dim=0, descending=True, stable=True)
    coef = torch.zeros_like(rewards)
    if strategy is RewardStrategy.BEST:
        return coef.scatter_(0, order[:1], 1.0)
    if n < 2 * top_k:
        raise ValueError(f"min-max needs num_noises >= 2 * top_k, got {n} noises and top_k={top_k}")
    coef.scatter_(0, order[:top_k], 0.9 / top_k)
    return coef.scatter_(0, order[n - top_k:], -0.1 / top_k)


class RewardGuidance(Guidance):
    """Reward-weighted wrapper; see :class:`RewardConfig`. Injected noise is ``[N, B, C, h, w]``."""

    cfg: RewardConfig

    def __init__(self, cfg: RewardConfig, prior: DiffusionPrior, reward: RewardModel) -> None:
        super().__init__(cfg, prior)
        self.base = cfg.base.build(prior)
        self.reward = reward

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (self.cfg.num_noises, *x.shape)

    def forward(self, images: torch.Tensor, conditions: Conditions, cameras: Cameras | None = None,
                step: int = 0, max_steps: int = 1, t: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> GuidanceOutput:
        if step >= self.cfg.duration * max_steps:
            first = None if noise is None else noise[0]
            return self.base(images, conditions, cameras, step, max_steps, t, first, generator)
        return super().forward(images, conditions, cameras, step, max_steps, t, noise, generator)

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        grads, rewards = [], []
        for n in noise:
            g, logs = self.base.gradient(x, conditions, cameras, t, n)
            grads.append(g)
            rewards.append(self.reward(self.prior.decode(logs["x0"]), conditions).float())
        r = torch.stack(rewards)  # [N, B]
        c = reward_coefficients(r, self.cfg.strategy, self.cfg.top_k, self.cfg.temperature)
        g = sum(broadcast(ci, x) * gi for ci, gi in zip(c, grads))
        return g, {"w": logs["w"], "x0": logs["x0"], "reward_mean": r.mean(), "reward_max": r.max(0).values}

    def update(self, step: int) -> dict[str, float]:
        return self.base.update(step)

    @property
    def adapts_prior(self) -> bool:
        return self.base.adapts_prior
