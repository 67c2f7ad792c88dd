"""Which prior a pipeline uses: small frozen config dataclasses that build a prior and its prompt encoder.

A spec knows whether its prior is camera-conditioned (then view-dependent prompt suffixes are off by
default: the camera condition already says where the camera is) and the render settings it was
trained for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.config import choice
from lift3d.priors.deepfloyd import DeepFloydIFConfig
from lift3d.priors.mvdream import MVDreamConfig
from lift3d.priors.stable_diffusion import StableDiffusionConfig


@dataclass(frozen=True)
class BundledPriorSpec:
    """lift3d's bundled 32 px text+camera prior (trained on the procedural world; runs on any CPU)."""

    KIND = "bundled"
    path: Path | None = None
    """Model folder; default: the one shipped inside the package."""

    def build(self, device: torch.device) -> Any:
        from lift3d.priors.bundled import BUNDLED_PRIOR_DIR, BundledPrior

        return BundledPrior.from_pretrained(self.path or BUNDLED_PRIOR_DIR).to(device)

    def text_encoder(self, prior: Any) -> Callable[[Sequence[str]], torch.Tensor]:
        return lambda prompts: prior.embed_text(list(prompts))

    @property
    def camera_conditioned(self) -> bool:
        return True

    @property
    def fixed_light(self) -> bool:
        """Trained on renders lit by the procedural world's fixed light (so render with it)."""
        return True


PriorSpec = choice(BundledPriorSpec, StableDiffusionConfig, DeepFloydIFConfig, MVDreamConfig)
"""Any text prior (tyro subcommands ``prior:bundled``, ``prior:stable-diffusion``, ...)."""
