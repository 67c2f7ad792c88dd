"""The :class:`Init` protocol: how a run's first stage gets its scene, and the terms that come with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from lift3d.pipelines.terms.base import Term


@dataclass
class InitContext:
    """What an init may use: the prompt, the built prior and its spec, the first stage's scene spec, the seed,
    the device and the run's media folder."""

    prompt: str
    prior: Any
    prior_spec: Any
    scene: Any
    seed: int
    device: torch.device
    media: Path


@dataclass
class Start:
    """What an init hands the stages: the first stage's rig (None when restored from a checkpoint, which
    carries the rig) and its terms (for the first stage only, and for every stage)."""

    rig: Any | None
    first_stage_terms: list[Term] = field(default_factory=list)
    every_stage_terms: list[Term] = field(default_factory=list)

    def terms(self, stage_index: int) -> list[Term]:
        return (self.first_stage_terms if stage_index == 0 else []) + self.every_stage_terms


class Init(Protocol):
    """A frozen config choosing how the first stage starts."""

    KIND: str

    def check(self, scene: Any) -> None:
        """Raise a one-line :class:`~lift3d.types.LiftError` before any compute if it cannot start ``scene``."""
        ...

    def start(self, ctx: InitContext) -> Start:
        """The first stage's rig and the terms."""
        ...

    def restore(self, ctx: InitContext, saved_terms: dict[str, Any]) -> Start:
        """The terms of a resumed run, from a checkpoint's ``terms`` entry (the checkpoint carries the rig)."""
        ...

    def source_prompt(self) -> str | None:
        """What the starting scene shows, when the init knows (DDS's default source prompt)."""
        ...
