"""Zero-shot classification of procedural images by shape family and colour with a CLIP model.

As in CLIP ("Learning Transferable Visual Models From Natural Language Supervision", arXiv 2103.00020,
section 3.1.2), each class is a text prompt: here every (family, colour) pair is the canonical caption
"a {colour} {family}" (:func:`lift3d.data.caption_for` with seed 0). An image's scores over the
``F x C`` prompts are the model's scaled cosine similarities; the family prediction is the argmax of the
family marginal (log-sum-exp over colours), the colour prediction that of the colour marginal, so
neither uses the other label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR, image_embeddings, text_embeddings, tokenize


@dataclass(frozen=True)
class Predictions:
    """Zero-shot predictions for a batch of images (indices into ``families`` / ``colours``)."""

    family: torch.Tensor
    colour: torch.Tensor
    logits: torch.Tensor
    """``[B, F, C]`` scaled similarities to every (family, colour) prompt."""


class ZeroShotClassifier:
    """Classifies ``[B, H, W, 3]`` images in [0, 1] into (family, colour) with a CLIP model.

    Args:
        model: a ``transformers.CLIPModel``.
        tokenizer: its tokenizer.
        families: family names (default: every family of :data:`lift3d.data.FAMILIES`).
        colours: palette colour names (default: the whole palette).
    """

    def __init__(self, model: Any, tokenizer: Any, families: tuple[str, ...] | None = None,
                 colours: tuple[str, ...] | None = None) -> None:
        from lift3d.data import FAMILIES, PALETTE, caption_for

        self.model = model.eval().requires_grad_(False)
        self.families = tuple(FAMILIES) if families is None else families
        self.colours = tuple(c.name for c in PALETTE) if colours is None else colours
        prompts = [caption_for(f, c, 0) for f in self.families for c in self.colours]
        with torch.no_grad():
            self.text = text_embeddings(model, tokenize(tokenizer, prompts).to(model.device))
        self.scale = float(model.logit_scale.exp().clamp(max=100.0))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 256) -> Predictions:
        logits = torch.cat([self.scale * image_embeddings(self.model, images[i:i + batch_size].to(self.model.device))
                            @ self.text.T for i in range(0, images.shape[0], batch_size)])
        logits = logits.reshape(-1, len(self.families), len(self.colours)).cpu()
        return Predictions(logits.logsumexp(dim=2).argmax(dim=1), logits.logsumexp(dim=1).argmax(dim=1), logits)


def load_zero_shot(model: str | Path = BUNDLED_REWARD_DIR, device: str = "cpu") -> ZeroShotClassifier:
    """A classifier on a CLIP folder or hub id, read with the reward models' loader (default: the bundled one)."""
    from lift3d.priors.reward_models import load_clip

    clip, tokenizer = load_clip(str(model), device)
    return ZeroShotClassifier(clip, tokenizer)


__all__ = ["Predictions", "ZeroShotClassifier", "load_zero_shot"]
