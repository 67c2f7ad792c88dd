"""What every viewer source is (:class:`Source`) and the pieces sources share; :mod:`lift3d.viewer.sources` picks
one for a path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from lift3d.types import LiftError
from lift3d.viewer.orbit import Orbit

WHITE = (1.0, 1.0, 1.0)


class Source(Protocol):
    """Anything the server can show."""

    title: str
    target: tuple[float, float, float]
    radius: float

    def versions(self) -> list[str]:
        """Labels of the versions, the page's stage/checkpoint slider (may grow while a run trains)."""
        ...

    def render(self, version: int, orbit: Orbit) -> torch.Tensor:
        """``[H, W, 3]`` in [0, 1] of version ``version`` seen from ``orbit``."""
        ...

    def export(self, version: int) -> list[Path]:
        """Write version ``version``'s exports (splats/mesh); returns the written files."""
        ...

    def status(self) -> dict:
        """Live training status (``step``, ``loss``, ``stage``, ``validation``) or ``{}``."""
        ...


@dataclass
class Scene:
    """One loaded version: a render function, its background, and what writes its exports."""

    render: Callable[[Orbit], torch.Tensor]
    export: Callable[[Path], list[Path]] | None = None


def check_version(version: int, labels: list[str]) -> None:
    if not 0 <= version < len(labels):
        raise LiftError(f"no version {version}; this source has {len(labels)} (0..{len(labels) - 1})")
