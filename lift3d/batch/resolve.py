"""Turn :class:`~lift3d.batch.jobs.Job` rows into full run configs, validating everything up front.

A text job starts from its preset (``PRESETS[preset]``), an image job from :class:`ReconstructConfig`;
the batch's shared options and then the row's own ``args`` are parsed on top with the same flags as
``lift3d generate`` / ``lift3d reconstruct``. Each job runs in ``<output>/jobs/<job id>/run``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lift3d.batch.jobs import Job, Kind
from lift3d.types import LiftError


@dataclass(frozen=True)
class BatchJob:
    """A resolved job: everything a worker needs (picklable, paths absolute)."""

    id: str
    kind: Kind
    spec: dict[str, Any]
    root: Path
    """The batch output folder; manifest paths are relative to it."""
    config: Any
    """A :class:`GenerateConfig` or :class:`ReconstructConfig` whose ``output`` is :attr:`run_dir`."""
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
        try:
            validate(cfg)
        except LiftError as e:
            raise LiftError(f"{job.where}: {e}") from None
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

    def __call__(self, job: Job) -> BatchJob:
        cfg = self.reconstruct(job) if job.kind == "reconstruct" else self.generate(job)
        batch_job = BatchJob(job.key(), job.kind, job.spec(), self.root, cfg, self.threads, self.evaluate)
        return replace(batch_job, config=replace(cfg, output=batch_job.run_dir))


def resolve_jobs(jobs: list[Job], root: Path, shared_args: tuple[str, ...] = (), preset: str = "default",
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
