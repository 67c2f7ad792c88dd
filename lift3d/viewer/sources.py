"""What the viewer shows: a *source* is a list of versions (a run's checkpoints, or files) that render
with lift3d's own renderers from an :class:`~lift3d.viewer.orbit.Orbit`.

* :class:`~lift3d.viewer.run_source.RunSource` — a ``lift3d generate`` run folder: every checkpoint (all stages), plus the live
  scene while the run trains (:mod:`lift3d.viewer.live`). Exports a chosen checkpoint like the run does.
* :class:`~lift3d.viewer.file_source.FileSource` — exported files: a 3DGS ``.ply`` or ``.splat`` (Gaussian renderer) or a mesh
  ``.glb``/``.gltf``/``.obj``/``.ply`` (mesh rasterizer, lit like the procedural world).

:func:`open_source` picks one for a path; bad input raises :class:`~lift3d.types.LiftError` with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from lift3d.export.splats import SplatAxes
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


def open_source(path: Path, splat_axes: SplatAxes = "z_up") -> Source:
    """The source for a run folder or a file; a folder that is not a generate run shows its exports."""
    from lift3d.viewer.file_source import FileSource
    from lift3d.viewer.run_source import RunSource

    path = Path(path)
    if not path.exists():
        raise LiftError(f"{path} does not exist; pass a run folder or an exported .ply/.splat/.glb/.obj file")
    if path.is_file():
        return FileSource([path], splat_axes)
    exports = [p for name in ("splats.ply", "mesh.glb") for p in (path / "export" / name, path / name) if p.is_file()]
    if (path / "config.json").is_file():
        try:
            return RunSource(path)
        except LiftError:
            if not exports:
                raise
    if exports:
        return FileSource(exports, splat_axes)
    raise LiftError(f"{path} is not a lift3d run folder (no config.json, no export/splats.ply or export/mesh.glb): "
                    "half-written, or not a run")
