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

    def contrast_prompts(self, prompt: str) -> list[str]:
        """The prompt with its procedural shape word replaced by every other family's ([] if it names none): what
        CLIP-contrast scoring (``init:sample-reconstruct``) weighs the prompt against."""
        from lift3d.data import FAMILIES, parse_caption

        family, _ = parse_caption(prompt)
        if family is None:
            return []
        words = prompt.split()
        hits = [i for i, w in enumerate(words) if w.lower().strip(".,") == family]
        if not hits:
            return []
        return [" ".join(words[:hits[-1]] + [other] + words[hits[-1] + 1:]) for other in FAMILIES if other != family]

    @property
    def light(self) -> Any:
        """The light the prior was trained under (the procedural world's), a :class:`~lift3d.rigs.base.FixedLight`:
        scenes render with it."""
        from lift3d.data import AMBIENT, LIGHT_DIRECTION
        from lift3d.rigs.base import FixedLight

        return FixedLight(LIGHT_DIRECTION, AMBIENT)


@dataclass(frozen=True)
class NovelViewPriorSpec:
    """An image-conditioned novel-view prior (Zero-1-to-3 family, arXiv 2303.11328) conditioned on the input
    image itself, as Magic123 (arXiv 2306.17843) and DreamGaussian (arXiv 2309.16653) guide image-to-3D.
    Default: lift3d's bundled 32 px model; any Zero123 / Stable Zero123 folder or hub id works."""

    KIND = "novel-view"
    model: str = ""
    """Zero123-layout folder or hub id; empty: the bundled novel-view prior shipped in the package."""

    def build(self, device: torch.device) -> Any:
        from lift3d.priors.bundled_novel_view import NOVEL_VIEW_PRIOR_DIR
        from lift3d.priors.stable_diffusion import LoadOptions
        from lift3d.priors.zero123 import Zero123Config

        model = self.model or str(NOVEL_VIEW_PRIOR_DIR)
        return Zero123Config(model=model, load=LoadOptions(device=str(device), dtype="float32")).build()


class ReferenceConditions:
    """What :class:`~lift3d.priors.prompts.PromptEmbeddings` is for text priors, for an image-conditioned one:
    ``conditions(cameras)`` gives the reference image's embedding and concatenated image, plus the relative
    pose of each rendered camera w.r.t. the reference camera.

    Args:
        prior: a :class:`~lift3d.priors.zero123.Zero123Prior`.
        image: ``[1, H, W, 3 or 4]`` reference image in [0, 1] (RGBA is composited on white).
        reference: the camera the image was seen from (:class:`~lift3d.priors.zero123.ReferenceView`).
    """

    def __init__(self, prior: Any, image: torch.Tensor, reference: Any) -> None:
        self.prior = prior
        self.base = prior.image_conditions(image, reference, batch=1)

    def conditions(self, cameras: Any, perp_neg: Any = None) -> Any:
        if perp_neg is not None:
            raise ValueError("Perp-Neg needs text view prompts; an image-conditioned prior has none")
        b = len(cameras)
        return self.base.with_(text=self.base.text.expand(b, -1, -1), uncond=self.base.uncond.expand(b, -1, -1),
                               image=self.base.image.expand(b, -1, -1, -1), camera=self.prior.camera_condition(cameras))


PriorSpec = choice(BundledPriorSpec, StableDiffusionConfig, DeepFloydIFConfig, MVDreamConfig)
"""Any text prior (tyro subcommands ``prior:bundled``, ``prior:stable-diffusion``, ...)."""
