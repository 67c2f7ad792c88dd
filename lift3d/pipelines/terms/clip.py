"""Dream Fields' CLIP loss on a stage's renders as a term ("Zero-Shot Text-Guided Object Generation with Dream
Fields", arXiv 2112.01455; :mod:`lift3d.guidance.clip_loss`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput


@dataclass
class ClipTerm:
    """The CLIP loss of the renders against the prompt (stateless: the CLIP model is frozen)."""

    loss: Any
    """A built :class:`~lift3d.guidance.clip_loss.ClipLoss`."""
    name: str = "clip"

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        return {} if out is None else {self.name: self.loss(out.rgb)}

    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def state(self) -> dict[str, Any]:
        return {}
