"""A ``lift3d generate`` run folder as a viewer source: every checkpoint (all stages) and, during
``lift3d generate --viewer``, the live scene (:mod:`lift3d.viewer.live`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from lift3d.cameras import Cameras
from lift3d.export.cli import ExportFormat
from lift3d.types import LiftError, RenderOutput
from lift3d.viewer.modes import RenderMode, mode_image
from lift3d.viewer.orbit import Orbit
from lift3d.viewer.query import export_formats
from lift3d.viewer.source_base import check_version


class RunSource:
    """A ``lift3d generate`` run folder: its checkpoints, and the live scene when ``live`` is given."""

    CACHE = 2

    def __init__(self, run_dir: Path, live=None) -> None:
        from lift3d.config import load_config
        from lift3d.pipelines.generate_config import GenerateConfig
        from lift3d.runs import RunDir

        self.run = RunDir(Path(run_dir))
        self.live = live
        path = self.run.path
        if not path.is_dir():
            raise LiftError(f"run folder {path} does not exist; pass the folder 'lift3d generate' printed")
        if not (path / "config.json").is_file():
            raise LiftError(f"{path} is not a lift3d run folder (no config.json): half-written, or not a run")
        try:
            self.cfg = load_config(GenerateConfig, path / "config.json")
        except (ValueError, KeyError, TypeError) as e:
            raise LiftError(f"{path}/config.json is not a readable generate config ({e})") from None
        if live is None:
            self._require_checkpoint()
        self.title = f"{self.cfg.prompt!r} ({path.name})"
        self.target, self.radius = (0.0, 0.0, 0.0), 1.0
        self.run_dir: Path | None = path
        self._cache: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _require_checkpoint(self) -> None:
        """At least one checkpoint must load and verify; else one line with the newest one's problem."""
        from lift3d.runs import list_checkpoints, load_checkpoint

        reason = "none saved yet"
        for ckpt in reversed(list_checkpoints(self.run.ckpt_dir)):
            try:
                load_checkpoint(ckpt)
                return
            except LiftError as e:
                reason = str(e).split(";")[0]
        raise LiftError(f"{self.run.path} has no valid checkpoint ({reason}): a half-written run? wait for its "
                        "first save, or resume it")

    def _checkpoints(self) -> list[tuple[Path, str]]:
        from lift3d.runs import list_checkpoints

        found = []
        for ckpt in list_checkpoints(self.run.ckpt_dir):
            try:
                meta = json.loads((ckpt / "state.json").read_text())
                stage = int(meta["state"]["stage"]) + 1
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being written, or damaged: not offered
            found.append((ckpt, f"stage {stage} · step {int(meta['step'])}"))
        return found

    def versions(self) -> list[str]:
        labels = [label for _, label in self._checkpoints()]
        return (["live"] if self.live is not None else []) + labels

    def _rig(self, version: int):
        """``(rig, stage config)`` of a version; checkpoints are loaded once and cached."""
        from lift3d.pipelines.generate_config import stages
        from lift3d.pipelines.load import rig_from_state
        from lift3d.runs import load_checkpoint

        if self.live is not None:
            if version == 0:
                rig, index = self.live.rig, self.live.stage
                if rig is None:
                    raise LiftError("the run has not started its first step yet")
                return rig, stages(self.cfg)[index]
            version -= 1
        checkpoints = self._checkpoints()
        check_version(version, [label for _, label in checkpoints])
        path = checkpoints[version][0]
        with self._lock:
            if path.name not in self._cache:
                _, state = load_checkpoint(path)
                index = state["stage"]
                stage = stages(self.cfg)[index]
                with torch.no_grad():
                    rig = rig_from_state(self.cfg, state, torch.device("cpu"))
                while len(self._cache) >= self.CACHE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[path.name] = (rig, stage)
            return self._cache[path.name]

    @torch.no_grad()
    def render(self, version: int, orbit: Orbit, mode: RenderMode = "rgb") -> torch.Tensor:
        rig, stage = self._rig(version)
        cameras = orbit.cameras(self.target).to(rig.scene_device)
        out = rig.render(cameras, stage.background, None)
        if mode == "normals" and out.normal is None:
            out = _with_normals(rig, cameras, stage.background)
        return mode_image(out, cameras, mode)

    def formats(self) -> list[ExportFormat]:
        """Every format ``lift3d export`` writes; the splat formats only when a stage optimizes Gaussians."""
        from lift3d.export.splat_files import SPLAT_SUFFIX
        from lift3d.pipelines.generate_config import stages
        from lift3d.rigs.gaussians import GaussianScene

        splats = any(isinstance(stage.scene, GaussianScene) for stage in stages(self.cfg))
        return [f for f in export_formats() if splats or f not in SPLAT_SUFFIX]

    def export(self, version: int, formats: Sequence[ExportFormat] = ()) -> list[Path]:
        """``formats`` into ``RUN/export-view/<version>/`` (:mod:`lift3d.viewer.exports`); none: what the run
        itself writes at its end (``rig.export``)."""
        from lift3d.viewer.exports import export_rig_formats

        labels = self.versions()
        label = labels[version] if 0 <= version < len(labels) else str(version)
        rig, _ = self._rig(version)
        slug = "".join(c if c.isalnum() else "_" for c in label).strip("_")
        directory = self.run.path / "export-view" / slug
        if not formats:
            return rig.export(directory)
        return export_rig_formats(rig, self.run.path, directory, formats, self.cfg.asset)

    def status(self) -> dict:
        if self.live is None:
            return {}
        return self.live.status()


def _with_normals(rig, cameras: Cameras, background) -> RenderOutput:
    """A field rendered unlit (albedo shading) gives no normals: render it again with ``compute_normals`` on."""
    from lift3d.renderers.volume import VolumeRenderer

    renderer = getattr(rig, "renderer", None)
    if not isinstance(renderer, VolumeRenderer):
        raise LiftError(f"a {type(rig).__name__} scene gives no normals")
    with_normals = VolumeRenderer(replace(renderer.config, compute_normals=True))
    with_normals.occupancy_grid = renderer.occupancy_grid
    return with_normals(rig.scene, cameras, torch.tensor(background, device=cameras.device), shading="albedo")
