"""What every viewer source is (:class:`Source`) and the pieces sources share; :mod:`lift3d.viewer.sources` picks
one for a path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from lift3d.cameras import Cameras
from lift3d.types import LiftError, RenderOutput
from lift3d.viewer.modes import RenderMode, mode_image
from lift3d.viewer.orbit import Orbit

if TYPE_CHECKING:
    from lift3d.export.cli import ExportFormat

WHITE = (1.0, 1.0, 1.0)


class Source(Protocol):
    """Anything the server can show."""

    title: str
    target: tuple[float, float, float]
    radius: float
    run_dir: Path | None
    """The run folder whose ``metrics.jsonl`` and ``media/val_*.png`` the page shows, or None."""

    def versions(self) -> list[str]:
        """Labels of the versions, the page's stage/checkpoint slider (may grow while a run trains)."""
        ...

    def render(self, version: int, orbit: Orbit, mode: RenderMode = "rgb") -> torch.Tensor:
        """``[H, W, 3]`` in [0, 1] of version ``version`` seen from ``orbit`` in ``mode`` (:mod:`lift3d.viewer.modes`)."""
        ...

    def formats(self) -> list[ExportFormat]:
        """The export formats the page offers (empty: it cannot export)."""
        ...

    def export(self, version: int, formats: Sequence[ExportFormat] = ()) -> list[Path]:
        """Write version ``version`` in ``formats`` (none: the run's own set); returns the written files."""
        ...

    def status(self) -> dict:
        """Live training status (``step``, ``loss``, ``stage``, ``validation``) or ``{}``."""
        ...


@dataclass
class Scene:
    """One loaded file: what renders it from cameras, and its bounding sphere."""

    render: Callable[[Cameras], RenderOutput]
    target: tuple[float, float, float]
    radius: float

    @torch.no_grad()
    def image(self, orbit: Orbit, mode: RenderMode = "rgb") -> torch.Tensor:
        cameras = orbit.cameras(self.target)
        return mode_image(self.render(cameras), cameras, mode)


def check_version(version: int, labels: list[str]) -> None:
    if not 0 <= version < len(labels):
        raise LiftError(f"no version {version}; this source has {len(labels)} (0..{len(labels) - 1})")
