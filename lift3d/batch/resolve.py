"""Turn job rows (:mod:`lift3d.batch.jobs`) into full run configs, validating everything up front.

A text job starts from its preset (``PRESETS[preset]``), an image job from :class:`ReconstructConfig`, an edit
job from :class:`EditConfig` and a texture job from :class:`TextureConfig`; the batch's shared options and then
the row's own ``args`` are parsed on top with the same flags as ``lift3d generate`` / ``lift3d reconstruct`` /
``lift3d edit`` / ``lift3d texture``, then the row's own columns are set. Each job runs in
``<output>/jobs/<job id>/run``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lift3d.batch.jobs import AnyJob, EditJob, Job, Kind, TextureJob
from lift3d.types import LiftError


def located(where: str, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, its refusal prefixed with the job's file and line."""
    try:
        return check(*args)
    except LiftError as e:
        raise LiftError(f"{where}: {e}") from None


@dataclass(frozen=True)
class BatchJob:
    """A resolved job: everything a worker needs (picklable, paths absolute)."""

    id: str
    kind: Kind
    spec: dict[str, Any]
    root: Path
    """The batch output folder; manifest paths are relative to it."""
    config: Any
    """A :class:`GenerateConfig`, :class:`ReconstructConfig`, :class:`EditConfig` or :class:`TextureConfig` whose
    ``output`` is :attr:`run_dir`."""
    threads: int = 1
    """torch threads in the worker (the CPUs Ray gives the task)."""
    evaluate: bool = False
    """Also score text jobs against the procedural ground truth (``lift3d eval``)."""

    @property
    def folder(self) -> Path:
        return self.root / "jobs" / self.id

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"


def _parse(cls: type, default: Any, args: tuple[str, ...], command: str, where: str) -> Any:
    """``tyro.cli`` on ``args`` over ``default``; a bad flag becomes one :class:`LiftError` line."""
    import tyro

    from lift3d.errors import tyro_config

    if not args:
        return default
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            return tyro.cli(cls, default=default, args=list(args), prog=f"lift3d {command}", config=tyro_config())
    except SystemExit:
        raise LiftError(f"{where}: invalid options for {command}: {' '.join(args)} "
                        f"(check them with lift3d {command} --help)") from None


class _Resolver:
    """Resolves jobs, caching parsed configs per (kind, preset, args) since tyro parsing is not free."""

    def __init__(self, root: Path, shared_args: tuple[str, ...], preset: str, threads: int, evaluate: bool) -> None:
        self.root, self.shared_args, self.preset = root, shared_args, preset
        self.threads, self.evaluate = threads, evaluate
        self._cache: dict[tuple, Any] = {}

    def generate(self, job: Job) -> Any:
        from lift3d.pipelines.generate import GenerateConfig, validate
        from lift3d.pipelines.presets import PRESETS

        preset = job.preset or self.preset
        if preset not in PRESETS:
            raise LiftError(f"{job.where}: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        key = ("generate", preset, self.shared_args + job.args)
        if key not in self._cache:
            self._cache[key] = _parse(GenerateConfig, PRESETS[preset], key[2], "generate", job.where)
        cfg = self._cache[key]
        cfg = replace(cfg, prompt=job.prompt, seed=cfg.seed if job.seed is None else job.seed, quiet=True)
        located(job.where, validate, cfg)
        return cfg

    def reconstruct(self, job: Job) -> Any:
        from lift3d.pipelines.reconstruct import ReconstructConfig

        image = Path(job.image or "")
        if not image.is_file():
            raise LiftError(f"{job.where}: image {image} does not exist")
        key = ("reconstruct", self.shared_args + job.args)
        if key not in self._cache:
            self._cache[key] = _parse(ReconstructConfig, ReconstructConfig(), key[1], "reconstruct", job.where)
        cfg = replace(self._cache[key], image=image.resolve(), quiet=True)
        if job.mode is not None:
            if job.mode not in ("feedforward", "optimize", "feedforward+refine"):
                raise LiftError(f"{job.where}: unknown mode {job.mode!r}; choose feedforward, optimize or "
                                "feedforward+refine")
            cfg = replace(cfg, mode=job.mode)
        if job.prompt:
            cfg = replace(cfg, prompt=job.prompt)
        if job.seed is not None:
            cfg = replace(cfg, seed=job.seed)
        return cfg

    def _config(self, cls: type, command: str, job: EditJob | TextureJob) -> Any:
        """``cls`` with the batch's shared options and the row's ``args`` (cached per command and options)."""
        key = (command, self.shared_args + job.args)
        if key not in self._cache:
            self._cache[key] = _parse(cls, cls(), key[1], command, job.where)
        return self._cache[key]

    def edit(self, job: EditJob) -> Any:
        from typing import get_args

        from lift3d.export.splat_files import is_splat_file
        from lift3d.pipelines.edit import MESH_SUFFIXES, EditConfig, Mode, Source, check_prompts

        source = Path(job.source)
        if not source.exists():
            raise LiftError(f"{job.where}: source {source} does not exist; pass a generate/reconstruct run folder, "
                            "a splat file or a mesh")
        if not (source.is_dir() or source.suffix.lower() in MESH_SUFFIXES or is_splat_file(source)):
            raise LiftError(f"{job.where}: source {source} is not an asset lift3d edits: pass a run folder, a splat "
                            "file (.ply/.splat/.spz/.sog) or a mesh (.glb/.gltf/.obj/.ply)")
        cfg = replace(self._config(EditConfig, "edit", job), source=source.resolve(), prompt=job.prompt, quiet=True)
        if job.source_prompt is not None:
            cfg = replace(cfg, source_prompt=job.source_prompt)
        if job.mode is not None:
            if job.mode not in get_args(Mode):
                raise LiftError(f"{job.where}: unknown mode {job.mode!r}; choose {' or '.join(get_args(Mode))}")
            cfg = replace(cfg, mode=job.mode)
        if job.seed is not None:
            cfg = replace(cfg, seed=job.seed)
        if cfg.min_faces < 0:
            raise LiftError(f"{job.where}: --min-faces must be >= 0 (0: never subdivide), got {cfg.min_faces}")
        if source.is_file() and not (cfg.source_prompt or "").strip():
            raise LiftError(f"{job.where}: source {source} is a file, which carries no prompt; give the row a "
                            "source_prompt (what it shows)")
        if cfg.source_prompt:  # else (a run folder) the run's own prompt, read when the job runs
            # check_prompts reads only the source's path and prompt
            located(job.where, check_prompts, cfg, Source("source", source, None, None, lambda spec, device, light: None))
        return cfg

    def texture(self, job: TextureJob) -> Any:
        from lift3d.pipelines.texture import TextureConfig, generate_config

        mesh = Path(job.mesh)
        if not mesh.is_file():
            raise LiftError(f"{job.where}: mesh {mesh} does not exist; pass a .glb, .gltf, .obj or .ply mesh")
        cfg = replace(self._config(TextureConfig, "texture", job), mesh=mesh.resolve(), prompt=job.prompt, quiet=True)
        if job.texture_size is not None:
            cfg = replace(cfg, texture_size=job.texture_size)
        if job.seed is not None:
            cfg = replace(cfg, seed=job.seed)
        if cfg.texture_size < 4:  # the memory bound is checked on the worker, whose device it depends on
            raise LiftError(f"{job.where}: texture_size {cfg.texture_size} is too small; use at least 4")
        located(job.where, generate_config, cfg)
        return cfg

    def __call__(self, job: AnyJob) -> BatchJob:
        if isinstance(job, EditJob):
            cfg = self.edit(job)
        elif isinstance(job, TextureJob):
            cfg = self.texture(job)
        else:
            cfg = self.reconstruct(job) if job.kind == "reconstruct" else self.generate(job)
        batch_job = BatchJob(job.key(), job.kind, job.spec(), self.root, cfg, self.threads, self.evaluate)
        return replace(batch_job, config=replace(cfg, output=batch_job.run_dir))


def resolve_jobs(jobs: list[AnyJob], root: Path, shared_args: tuple[str, ...] = (), preset: str = "default",
                 threads: int = 1, evaluate: bool = False) -> list[BatchJob]:
    """Resolve and validate every job (raises :class:`LiftError` on the first bad one); ids must be unique."""
    resolver = _Resolver(Path(root).resolve(), tuple(shared_args), preset, threads, evaluate)
    resolved, seen = [], {}
    for job in jobs:
        r = resolver(job)
        if r.id in seen:
            raise LiftError(f"{job.where}: the same job as {seen[r.id]}; give repeats different seeds")
        seen[r.id] = job.where
        resolved.append(r)
    return resolved


__all__ = ["BatchJob", "resolve_jobs"]
