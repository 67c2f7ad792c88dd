"""The source term of Delta Denoising Score: renders of the scene a stage starts from, as guidance conditions.

"Delta Denoising Score", Hertz, Aberman, Cohen-Or, arXiv 2304.07090, compares the optimized image with an
unedited source image under the same timestep and noise. In ``generate`` the source is the scene each stage
starts from (its initial scene, the ``--init`` asset, or the previous stage's result), kept frozen and
rendered from the step's cameras with the step's own random draws (lights), and described by the source
prompt, view-suffixed per camera exactly when the stage's prompt is ("a red cube, side view" against "a blue
cube, side view": a suffix on one side only would not cancel). It travels in the checkpoints, so a resumed
stage compares against the same source.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.priors.prompts import PromptEmbeddings
from lift3d.types import RenderOutput


class SourceTerm:
    """A frozen copy of a stage's starting scene and the source prompt's embeddings.

    Args:
        rig: the frozen rig (rebuilt from ``snapshot``; never stepped).
        snapshot: its state (what the checkpoints carry).
        prompts: the source prompt encoded as the stage's prompt is (with view prompts when the stage's has them).
    """

    name = "source"

    def __init__(self, rig: Any, snapshot: dict, prompts: PromptEmbeddings) -> None:
        self.rig, self.snapshot, self.prompts = rig, snapshot, prompts

    @classmethod
    def capture(cls, rig: Any, rebuild: Callable[[dict], Any], prompts: PromptEmbeddings,
                saved: dict | None = None) -> SourceTerm:
        """Freeze ``rig`` as it is now (or the ``saved`` snapshot of a resumed stage); ``rebuild(state)`` makes a
        rig of the stage's kind from a state."""
        snapshot = saved["scene"] if saved is not None else copy.deepcopy(rig.state())
        return cls(rebuild(snapshot), snapshot, prompts)

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        """``source`` (the source prompt, or each camera's view prompt of it) and ``source_images`` for the step's
        ``cameras``; ``rng_state`` is the step generator's state before the optimized render, so both renders draw
        the same lights."""
        gen = torch.Generator().set_state(rng_state)
        out = self.rig.render(cameras, background, gen)
        return {"source": self.prompts.select(cameras, len(cameras)), "source_images": out.rgb.detach()}

    def state(self) -> dict:
        return {"scene": self.snapshot}
