"""The source term of Delta Denoising Score: renders of the scene a stage starts from, as guidance conditions.

"Delta Denoising Score", Hertz, Aberman, Cohen-Or, arXiv 2304.07090, compares the optimized image with an
unedited source image under the same timestep and noise. In ``generate`` the source is the scene each stage
starts from (its initial scene, the ``--init`` asset, or the previous stage's result), kept frozen and
rendered from the step's cameras with the step's own random draws (lights), and described by the source
prompt. It travels in the checkpoints, so a resumed stage compares against the same source.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput


class SourceTerm:
    """A frozen copy of a stage's starting scene and the source prompt's embedding.

    Args:
        rig: the frozen rig (rebuilt from ``snapshot``; never stepped).
        snapshot: its state (what the checkpoints carry).
        embedding: ``[1, ...]`` source-prompt embedding in the prior's format.
    """

    name = "source"

    def __init__(self, rig: Any, snapshot: dict, embedding: torch.Tensor) -> None:
        self.rig, self.snapshot, self.embedding = rig, snapshot, embedding

    @classmethod
    def capture(cls, rig: Any, rebuild: Callable[[dict], Any], embedding: torch.Tensor,
                saved: dict | None = None) -> SourceTerm:
        """Freeze ``rig`` as it is now (or the ``saved`` snapshot of a resumed stage); ``rebuild(state)`` makes a
        rig of the stage's kind from a state."""
        snapshot = saved["scene"] if saved is not None else copy.deepcopy(rig.state())
        return cls(rebuild(snapshot), snapshot, embedding)

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        """``source`` and ``source_images`` for the step's ``cameras``; ``rng_state`` is the step generator's
        state before the optimized render, so both renders draw the same lights."""
        gen = torch.Generator().set_state(rng_state)
        out = self.rig.render(cameras, background, gen)
        b = len(cameras)
        return {"source": self.embedding.expand(b, *self.embedding.shape[1:]), "source_images": out.rgb.detach()}

    def state(self) -> dict:
        return {"scene": self.snapshot}
