"""The anchor term: the squared distance of the Gaussians' means from where they started, so a refinement keeps
the unseen side where a feed-forward model put it (``reconstruct --mode feedforward+refine``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput


@dataclass
class AnchorTerm:
    """``weight x mean ||means - initial||^2`` over the Gaussians of ``rig.scene``."""

    initial: torch.Tensor
    weight: float
    name: str = "anchor"

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        return {self.name: self.weight * ((rig.scene.means - self.initial) ** 2).sum(-1).mean()}

    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def state(self) -> dict[str, Any]:
        return {"initial": self.initial}
