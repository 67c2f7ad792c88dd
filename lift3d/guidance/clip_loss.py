"""CLIP guidance on renders: pull every rendered view towards the prompt in a CLIP embedding space.

"Zero-Shot Text-Guided Object Generation with Dream Fields", Jain et al., arXiv 2112.01455: the loss is
the negative cosine similarity between the CLIP embeddings of a render and of the prompt. Here it is an
auxiliary term next to score distillation (as Magic123, arXiv 2306.17843, and DreamFusion's
predecessors combine them): the diffusion prior shapes appearance at every noise level, the contrastive
model adds a global "is this the prompted object" signal that a weak or undertrained prior lacks.

The default model is the bundled contrastive reward model trained on the procedural world
(docs/reward_model.md); any transformers CLIP folder or hub id works (``model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lift3d.priors.rewards import CLIPReward


@dataclass(frozen=True)
class ClipLossConfig:
    """Dream Fields' CLIP loss added to a stage's guidance loss."""

    weight: float = 1.0
    """Scale of the loss ``weight * H * W * mean_views(1 - cos)``: per pixel, comparable to score distillation's
    per-pixel gradient (as the opacity regularizers are)."""
    model: str = ""
    """CLIP folder or hub id; empty: the bundled reward model."""

    def build(self, prompt: str, device: torch.device) -> ClipLoss:
        from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR
        from lift3d.priors.reward_models import load_clip_reward

        return ClipLoss(self.weight, load_clip_reward(prompt, self.model or BUNDLED_REWARD_DIR, str(device)))


class ClipLoss:
    """``weight * H * W * mean over views of (1 - cos(CLIP(render), CLIP(prompt)))``; differentiable in the
    renders, the CLIP model frozen. See :class:`ClipLossConfig`."""

    def __init__(self, weight: float, reward: CLIPReward) -> None:
        self.weight = weight
        self.reward = reward

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """Loss (0-d) of renders ``[B, H, W, 3]`` in [0, 1]."""
        if rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise ValueError(f"renders must be [B, H, W, 3], got {tuple(rgb.shape)}")
        similarity = self.reward(rgb, None)  # type: ignore[arg-type]  # CLIPReward ignores conditions
        return self.weight * rgb.shape[1] * rgb.shape[2] * (1.0 - similarity).mean()
