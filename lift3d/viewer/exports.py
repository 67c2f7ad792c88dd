"""The viewer's *export* action: a chosen version in the formats the user picked, through ``lift3d export``'s
own writers, into ``export-view/`` beside the run or the file (overwriting what an earlier export wrote there).

* A run's checkpoint (or the live scene): :func:`lift3d.export.cli.export_rig`, as ``lift3d export RUN`` writes
  the newest checkpoint (splat formats need a Gaussian scene; meshes use the run's face budget and texture size).
* A file: as ``lift3d export FILE`` converts it (:func:`~lift3d.export.cli.run_export`; splats to any format but
  video, a mesh to the mesh formats).

Splat files are written in the ``y_down`` axes, as ``lift3d export`` writes them by default (upright in
SuperSplat/PlayCanvas).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lift3d.export.asset import AssetOptions
from lift3d.export.cli import SUFFIX, ExportConfig, ExportFormat, export_rig, run_export, run_file_name
from lift3d.export.splat_files import SPLAT_SUFFIX, save_splats
from lift3d.export.splats import SplatAxes
from lift3d.types import LiftError
from lift3d.viewer.file_kinds import conversions, read_splats

SPLAT_AXES: SplatAxes = "y_down"


def export_rig_formats(rig, run_dir: Path, directory: Path, formats: Sequence[ExportFormat],
                       asset: AssetOptions) -> list[Path]:
    """``rig`` (one version of the run in ``run_dir``) in each of ``formats`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        cfg = ExportConfig(scene=Path(run_dir), format=fmt, overwrite=True, target_faces=asset.target_faces,
                           texture_size=asset.texture_size, splat_axes=SPLAT_AXES)
        written += export_rig(rig, cfg, directory / run_file_name(fmt, SPLAT_AXES))
    return written


def export_file_formats(path: Path, axes: SplatAxes, formats: Sequence[ExportFormat]) -> list[Path]:
    """File ``path`` (splats read in ``axes``) converted to each of ``formats`` into ``export-view/`` beside it
    (beside its folder for a SOG ``meta.json``)."""
    offered = conversions(path)
    refused = [f for f in formats if f not in offered]
    if refused:
        raise LiftError(f"{path.name} cannot be written as {refused[0]}; it converts to {', '.join(offered)}")
    folder = path.parent.parent if path.name == "meta.json" else path.parent
    stem = path.name[: -len(".compressed.ply")] if path.name.lower().endswith(".compressed.ply") else path.stem
    if path.name == "meta.json":
        stem = path.parent.name
    directory = folder / "export-view"
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    splat_formats = [f for f in formats if f in SPLAT_SUFFIX]
    if splat_formats:
        data = read_splats(path, axes)
        for fmt in splat_formats:
            written += save_splats(data, directory / f"{stem}{SUFFIX[fmt]}", fmt, SPLAT_AXES, None, True)
    for fmt in formats:
        if fmt not in SPLAT_SUFFIX:
            written += run_export(ExportConfig(scene=path, format=fmt, output=directory / f"{stem}{SUFFIX[fmt]}",
                                               overwrite=True, splat_axes=axes))
    return written
