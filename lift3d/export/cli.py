"""``lift3d export``: convert scene files between DCC formats (splats <-> meshes, mesh <-> mesh).

Works on plain files (splats: 3DGS ``.ply``, ``.compressed.ply``, ``.splat``, ``.spz``, ``.sog``/``meta.json``;
a mesh ``.glb``/``.obj``/``.ply``) and on run folders
of ``lift3d generate`` / ``lift3d reconstruct``: the newest valid checkpoint is loaded into its scene rig and
exported as a textured mesh, as splats (Gaussian scenes) or as a turntable video rendered by lift3d.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lift3d.export.splat_files import SPLAT_SUFFIX, is_splat_file
from lift3d.export.splats import SplatAxes
from lift3d.types import LiftError

ExportFormat = Literal["glb", "obj", "ply", "usdz", "splat-ply", "splat", "spz", "sog", "splat-ply-compressed",
                       "splat-glb", "video"]
SUFFIX = {"glb": ".glb", "obj": ".obj", "ply": ".ply", "usdz": ".usdz", **SPLAT_SUFFIX, "video": ".mp4"}
MESH_FORMATS = ("glb", "obj", "ply", "usdz")


@dataclass(frozen=True)
class ExportConfig:
    """Convert one scene file to another format."""

    scene: Path
    """Input: a run folder, splats (3DGS ``.ply``, ``.compressed.ply``, ``.splat``, ``.spz``, ``.sog``, SOG
    ``meta.json``) or a mesh ``.glb``/``.obj``/``.ply``."""
    format: ExportFormat = "glb"
    """Output format: meshes glb|obj|ply|usdz; splats splat-ply|splat|spz|sog|splat-ply-compressed|splat-glb
    (KHR_gaussian_splatting); or a turntable video."""
    output: Path | None = None
    """Output path (default: the input's stem plus the format's ending: ``_splat.ply``, ``.spz``, ``.sog``,
    ``.compressed.ply``, ``_splat.glb``...; a SOG path named ``meta.json`` writes separate WebPs beside it)."""
    overwrite: bool = False
    """Replace an existing output file."""
    sh_degree: int | None = None
    """SH degree of a splat-ply output (0..3; default: the input's; viewers that expect 45 f_rest need 3)."""
    splat_axes: SplatAxes = "y_down"
    """Axis convention of splat files read and written (y_down shows upright in SuperSplat/PlayCanvas)."""
    drop_invalid: bool = False
    """Skip Gaussians of an input splat file that hold NaN/inf values or zero-length quaternions (with a
    warning) instead of refusing the file."""
    resolution: int = 128
    """Marching-cubes grid size for splat -> mesh."""
    target_faces: int = 20000
    """Face budget for splat -> mesh (quadric decimation before UV unwrapping)."""
    texture_size: int = 1024
    """Baked base-colour texture size for splat -> mesh and run -> mesh (glb/obj); 0 keeps vertex colours."""
    normal_map: bool = True
    """Bake a tangent-space normal map of the full-resolution surface onto the decimated mesh (glb/obj/usdz
    meshes made here: splat -> mesh, run -> mesh); ``--no-normal-map`` also drops one a mesh input carries."""
    frames: int = 48
    """Turntable frames (``--format video`` of a run folder)."""
    video_resolution: int = 256
    """Turntable frame size in pixels."""


def _is_splat(path: Path) -> bool:
    return is_splat_file(path)


def _output_path(cfg: ExportConfig) -> Path:
    if cfg.output is not None:
        return cfg.output
    stem = cfg.scene.name[: -len(".compressed.ply")] if cfg.scene.name.lower().endswith(".compressed.ply") \
        else cfg.scene.stem
    out = cfg.scene.with_name(stem + SUFFIX[cfg.format])
    if out == cfg.scene:
        raise LiftError(f"output would overwrite the input {cfg.scene}; pass --output.")
    return out


def run_file_name(fmt: ExportFormat, splat_axes: SplatAxes) -> str:
    """The file name a run's export in ``fmt`` gets (``asset.glb``, ``splats.spz``, ``splats_y_down.ply``...)."""
    return {"splat-ply": "splats_y_down.ply" if splat_axes == "y_down" else "splats_z_up.ply",
            "splat-glb": "splats.glb"}.get(fmt, ("splats" if fmt in SPLAT_SUFFIX else "asset") + SUFFIX[fmt])


def _run_output(cfg: ExportConfig) -> Path:
    if cfg.output is not None:
        return cfg.output
    return cfg.scene / "export" / run_file_name(cfg.format, cfg.splat_axes)


def _run_kind(run_dir: Path) -> str | None:
    """The ``_kind`` tag of a run folder's ``config.json`` (``generate``, ``reconstruct``); None if unreadable."""
    import json

    try:
        kind = json.loads((run_dir / "config.json").read_text())["config"]["_kind"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return kind if isinstance(kind, str) else None


def load_run_rig(run_dir: Path):
    """The scene rig of a run folder: a ``generate`` run's newest valid checkpoint; for a ``reconstruct`` run,
    which saves no checkpoint, its exported splats (``export/splats.ply``, lift3d's world axes) in the rig that
    ``lift3d reconstruct`` exported them with, so meshes come out as the run's own.

    Raises:
        LiftError: not a run folder, no valid checkpoint yet, or a reconstruct run without its splats.
    """
    if _run_kind(run_dir) == "reconstruct":
        from lift3d.export.splats import load_3dgs_ply
        from lift3d.rigs.gaussians import GaussianRig, GaussianScene

        splats = run_dir / "export" / "splats.ply"
        if not splats.is_file():
            raise LiftError(f"{run_dir} is a reconstruct run without export/splats.ply (stopped before its end?); "
                            "run lift3d reconstruct again.")
        gaussians = load_3dgs_ply(splats, axes="z_up").to_gaussians()
        return GaussianRig(GaussianScene(sh_degree=gaussians.max_sh_degree, densify=None), gaussians)
    from lift3d.pipelines.load import load_generate_run

    return load_generate_run(run_dir)[1]


def export_run(cfg: ExportConfig) -> list[Path]:
    """Export a run folder's scene (:func:`load_run_rig`) as a mesh, splats or a turntable video."""
    if cfg.format not in SUFFIX:
        raise LiftError(f"unknown format {cfg.format!r}; choose one of {list(SUFFIX)}.")
    out = _run_output(cfg)
    if out.exists() and not cfg.overwrite:
        raise LiftError(f"{out} already exists; pass --overwrite to replace it.")
    return export_rig(load_run_rig(cfg.scene), cfg, out)


def export_rig(rig, cfg: ExportConfig, out: Path) -> list[Path]:
    """Write ``rig``'s scene (a run's, or any checkpoint's) to ``out`` in ``cfg.format`` with ``cfg``'s options."""
    from lift3d.export.splat_files import save_splats
    from lift3d.export.splats import SplatData

    if cfg.format == "video":
        from lift3d.pipelines.outputs import write_turntable

        return [write_turntable(rig, out, cfg.frames, cfg.video_resolution, (1.0, 1.0, 1.0), cfg.overwrite)]
    if cfg.format in SPLAT_SUFFIX:
        from lift3d.scenes.gaussians import Gaussians

        scene = getattr(rig, "scene", None)
        if not isinstance(scene, Gaussians):
            raise LiftError(f"{cfg.scene} holds a {type(scene).__name__} scene, not Gaussians; export it as glb/obj/ply.")
        out.parent.mkdir(parents=True, exist_ok=True)
        return save_splats(SplatData.from_gaussians(scene), out, cfg.format, cfg.splat_axes, cfg.sh_degree,
                           cfg.overwrite)
    try:
        mesh = rig.asset(cfg.target_faces, cfg.texture_size)
    except ValueError as e:
        raise LiftError(f"{cfg.scene} has no surface to export yet ({e}).") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    return _save_mesh(mesh, out, cfg.overwrite, cfg.normal_map)


def _save_mesh(mesh, out: Path, overwrite: bool, normal_map: bool = True) -> list[Path]:
    if not normal_map:
        from lift3d.export.normal_map import drop_normal_map

        drop_normal_map(mesh)
    if out.suffix.lower() == ".usdz":
        from lift3d.export.usdz import save_usdz

        return [save_usdz(mesh, out, overwrite)]
    from lift3d.export.formats import save_mesh

    return save_mesh(mesh, out, overwrite)


def run_export(cfg: ExportConfig) -> list[Path]:
    """Do the conversion described by ``cfg``; returns the written files."""
    from lift3d.export import pipeline
    from lift3d.export.formats import load_mesh
    from lift3d.export.splat_files import load_splats, save_splats

    if cfg.scene.is_dir():
        return export_run(cfg)
    if not cfg.scene.is_file():
        raise LiftError(f"scene file {cfg.scene} does not exist.")
    if cfg.format not in SUFFIX:
        raise LiftError(f"unknown format {cfg.format!r}; choose one of {list(SUFFIX)}.")
    if cfg.format == "video":
        raise LiftError("--format video renders a scene: pass a run folder (lift3d export RUN_DIR --format video).")
    out = _output_path(cfg)
    if out.exists() and not cfg.overwrite:
        raise LiftError(f"{out} already exists; pass --overwrite to replace it.")
    if _is_splat(cfg.scene):
        splats = load_splats(cfg.scene, axes=cfg.splat_axes, drop_invalid=cfg.drop_invalid)
        if cfg.format in SPLAT_SUFFIX:
            return save_splats(splats, out, cfg.format, cfg.splat_axes, cfg.sh_degree, cfg.overwrite)
        mesh = pipeline.splats_to_textured_mesh(splats, cfg.resolution, cfg.target_faces,
                                                cfg.texture_size if cfg.format != "ply" else 0, cfg.normal_map)
        return _save_mesh(mesh, out, cfg.overwrite, cfg.normal_map)
    if cfg.format in SPLAT_SUFFIX:
        raise LiftError(f"{cfg.scene} is a mesh, not 3DGS splats (no f_dc_0 property); mesh -> splat conversion "
                        "needs fitting (lift3d generate).")
    return _save_mesh(load_mesh(cfg.scene), out, cfg.overwrite, cfg.normal_map)


def main(argv: Sequence[str] | None = None, prog: str = "lift3d export") -> int:
    """Parse flags with tyro, run the export, print written paths. Raises LiftError on bad input."""
    from lift3d.errors import parse_args

    args = list(argv if argv is not None else sys.argv[1:])
    if args and not args[0].startswith("-"):  # ``lift3d export SCENE ...``: the scene may come first, positionally
        args = ["--scene", *args]
    cfg = parse_args(ExportConfig, args, prog)
    for path in run_export(cfg):
        print(path)
    return 0
