"""The default init: the first stage's scene built fresh (random Gaussians in a ball, a density blob, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lift3d.pipelines.inits.base import InitContext, Start
from lift3d.types import LiftError


@dataclass(frozen=True)
class RandomInit:
    """Start from the scene kind's own initialization (``init:random``, the default)."""

    KIND = "random"

    def check(self, scene: Any) -> None:
        why = scene.cannot_start_fresh()
        if why is not None:
            raise LiftError(why)

    def start(self, ctx: InitContext) -> Start:
        generator = torch.Generator().manual_seed(ctx.seed + 7919)
        return Start(ctx.scene.build(generator, ctx.device, ctx.prior_spec.light))

    def restore(self, ctx: InitContext, saved_terms: dict[str, Any]) -> Start:
        return Start(None)

    def source_prompt(self) -> str | None:
        return None
