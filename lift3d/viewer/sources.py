"""What the viewer shows: a *source* is a list of versions (a run's checkpoints, or files) that render
with lift3d's own renderers from an :class:`~lift3d.viewer.orbit.Orbit`, in any render mode
(:mod:`lift3d.viewer.modes`).

* :class:`~lift3d.viewer.run_source.RunSource` — a ``lift3d generate`` run folder: every checkpoint (all stages), plus the live
  scene while the run trains (:mod:`lift3d.viewer.live`). Exports a chosen checkpoint like the run does, or in
  the formats the page picks.
* :class:`~lift3d.viewer.file_source.FileSource` — exported files: splats (every format lift3d reads) through the Gaussian
  renderer, or a mesh ``.glb``/``.gltf``/``.obj``/``.ply`` (mesh rasterizer, lit like the procedural world); a
  SOG folder (``meta.json`` and its WebPs) opens as its ``meta.json``.

:func:`open_source` picks one for a path; bad input raises :class:`~lift3d.types.LiftError` with one line.
"""

from __future__ import annotations

from pathlib import Path

from lift3d.export.splats import SplatAxes
from lift3d.types import LiftError
from lift3d.viewer.source_base import WHITE, Scene, Source, check_version  # noqa: F401  (the viewer's names)


def open_source(path: Path, splat_axes: SplatAxes = "z_up") -> Source:
    """The source for a run folder or a file; a folder that is not a generate run shows its exports."""
    from lift3d.viewer.file_source import FileSource
    from lift3d.viewer.run_source import RunSource

    path = Path(path)
    if not path.exists():
        raise LiftError(f"{path} does not exist; pass a run folder, a SOG folder or an exported "
                        ".ply/.splat/.spz/.sog/.glb/.obj file")
    if path.is_file():
        return FileSource([path], splat_axes)
    if (path / "meta.json").is_file() and not (path / "config.json").exists():
        return FileSource([path / "meta.json"], splat_axes)
    exports = [p for name in ("splats.ply", "mesh.glb") for p in (path / "export" / name, path / name) if p.is_file()]
    if (path / "config.json").is_file():
        try:
            return RunSource(path)
        except LiftError:
            if not exports:
                raise
    if exports:
        return FileSource(exports, splat_axes, run_dir=path)
    raise LiftError(f"{path} is not a lift3d run folder (no config.json, no export/splats.ply or export/mesh.glb): "
                    "half-written, or not a run")
