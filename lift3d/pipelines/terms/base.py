"""The :class:`Term` protocol and how terms travel in checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput


@runtime_checkable
class Term(Protocol):
    """An extra loss with its own state.

    Attributes:
        name: the term's key in checkpoints (``terms.<name>``) and the prefix of its logged losses.
    """

    name: str

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        """Weighted losses for one step; ``out`` is the rig's render from ``cameras`` (None when a stage renders
        no sampled views)."""
        ...

    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra guidance conditions for the step (``source_images``, ...); most terms give none."""
        ...

    def state(self) -> dict[str, Any]:
        """What an exact resume needs (tensors and scalars); the settings come from the run's config."""
        ...


def terms_state(terms: Sequence[Term]) -> dict[str, Any]:
    """``{name: state}`` of every term, for a checkpoint's ``terms`` entry."""
    return {t.name: t.state() for t in terms}


def restore_terms(saved: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The saved state of term ``name`` in a checkpoint's ``terms`` entry (None: fresh)."""
    return None if saved is None else saved.get(name)
