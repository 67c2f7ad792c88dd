"""``lift3d batch jobs.txt``: run every job of a jobs file as a Ray task and record the results.

Each job is one Ray task (``num_cpus`` / ``num_gpus`` per task; one GPU per job by default when the
cluster has GPUs). Ray re-runs a task whose worker died, or that raised, up to ``--retries`` times
(``max_retries`` / ``retry_exceptions``); a job whose retries are used up gets a ``failed`` record.
Records are appended to ``<output>/manifest.jsonl`` as results arrive; re-running the same command
skips jobs already ``done`` (and retries the failed ones). ``--ray-address auto`` joins a running
cluster (``ray start --head`` ...); without it a local Ray instance is started (``--workers`` CPUs).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from lift3d.batch.jobs import read_jobs
from lift3d.batch.manifest import Manifest
from lift3d.batch.resolve import BatchJob, resolve_jobs
from lift3d.types import LiftError


@dataclass(frozen=True)
class BatchConfig:
    """Run many generate/reconstruct/edit/texture jobs on a Ray cluster (or a local Ray instance). Usage: lift3d
    batch JOBS [options] [-- options for every job's lift3d generate / reconstruct / edit / texture]."""

    jobs: Path = Path("")
    """Prompts .txt (one per line), or a .csv / .jsonl of prompt, image, preset, mode, seed (and args), or of
    command edit (source, prompt, source_prompt, mode, seed) / command texture (mesh, prompt, texture_size, seed)."""
    output: Path | None = None
    """Batch folder: manifest.jsonl and jobs/<id>/run (default outputs/batch/<jobs file name>)."""
    preset: str = "default"
    """Preset of text jobs that name none."""
    ray_address: str | None = None
    """``auto`` (or host:port) joins a running Ray cluster; unset starts a local Ray instance."""
    workers: int = 0
    """Local instance only: concurrent jobs (CPUs given to Ray = workers * cpus-per-job); 0: all cores."""
    cpus_per_job: int = 1
    """CPUs each task requests (and torch threads in the job)."""
    gpus_per_job: float | None = None
    """GPUs each task requests; default 1 when the cluster has GPUs, else 0."""
    retries: int = 2
    """Extra attempts of a job whose worker died or that raised (Ray's max_retries)."""
    evaluate: bool = False
    """Score text jobs against the procedural ground truth (metrics iou, retrieval, colour, chamfer)."""
    quiet: bool = False
    """No progress bar and no worker log lines."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: jobs in the file, skipped (already done), done now, failed now."""

    total: int
    skipped: int
    done: int
    failed: int
    manifest: Path
    seconds: float


def default_output(cfg: BatchConfig) -> Path:
    return cfg.output if cfg.output is not None else Path("outputs/batch") / Path(cfg.jobs).stem


def plan(cfg: BatchConfig, shared_args: tuple[str, ...] = ()) -> tuple[list[BatchJob], Manifest]:
    """Read, resolve and validate every job (no compute): the jobs and the manifest."""
    if cfg.retries < 0 or cfg.cpus_per_job < 1 or cfg.workers < 0:
        raise LiftError("need --retries >= 0, --cpus-per-job >= 1 and --workers >= 0")
    root = default_output(cfg).resolve()
    jobs = resolve_jobs(read_jobs(cfg.jobs), root, shared_args, cfg.preset, cfg.cpus_per_job, cfg.evaluate)
    return jobs, Manifest(root / "manifest.jsonl")


def _connect(cfg: BatchConfig) -> bool:
    """Join ``--ray-address`` or start a local instance (unless Ray is already up); True if we started it."""
    try:
        import ray
    except ImportError:
        raise LiftError("lift3d batch needs Ray; install it with pip install 'lift3d[distributed]'") from None
    if ray.is_initialized():
        return False
    if cfg.ray_address is not None:
        ray.init(address=cfg.ray_address, log_to_driver=not cfg.quiet)
    else:
        num_cpus = cfg.workers * cfg.cpus_per_job if cfg.workers else None
        ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=256 * 1024 ** 2,
                 log_to_driver=not cfg.quiet)
    return True


def run_batch(cfg: BatchConfig, shared_args: tuple[str, ...] = ()) -> BatchResult:
    """Run the jobs of ``cfg.jobs`` not yet done; ``shared_args`` are options for every job's command."""
    from lift3d.batch.worker import failed_record, run_job
    from lift3d.progress import progress_bar

    start = time.time()
    jobs, manifest = plan(cfg, shared_args)
    finished = manifest.finished()
    todo = [j for j in jobs if j.id not in finished]
    skipped = len(jobs) - len(todo)
    done = failed = 0
    if todo:
        import ray

        started_ray = _connect(cfg)
        try:
            gpus = cfg.gpus_per_job
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
            task = ray.remote(run_job).options(num_cpus=cfg.cpus_per_job, num_gpus=gpus, max_retries=cfg.retries,
                                               retry_exceptions=True)
            pending = {task.remote(job): job for job in todo}
            with progress_bar("batch", len(jobs), completed=skipped, quiet=cfg.quiet) as bar:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        job = pending.pop(ref)
                        try:
                            record = ray.get(ref)
                        except ray.exceptions.RayError as e:
                            record = failed_record(job, e)
                        manifest.append(record)
                        done += record["status"] == "done"
                        failed += record["status"] != "done"
                        bar.update(1, failed=failed)
        finally:
            if started_ray:
                ray.shutdown()
    return BatchResult(len(jobs), skipped, done, failed, manifest.path, time.time() - start)


def main(argv: list[str], prog: str = "lift3d batch") -> None:
    """CLI: ``lift3d batch JOBS [batch options] [-- options for every job's generate/reconstruct/edit/texture]``."""
    import tyro

    from lift3d.errors import parse_args

    argv = list(argv)
    shared: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, shared = argv[:i], argv[i + 1:]
    if argv and not argv[0].startswith("-"):
        argv = ["--jobs", *argv]
    cfg = parse_args(Annotated[BatchConfig, tyro.conf.arg()], argv, prog)
    if not str(cfg.jobs) or str(cfg.jobs) == ".":
        raise LiftError("no jobs file; usage: lift3d batch prompts.txt [-- generate options]")
    try:
        r = run_batch(cfg, tuple(shared))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to continue (finished jobs are kept)", file=sys.stderr)
        raise SystemExit(130) from None
    print(f"batch: {r.total} jobs: {r.done} done, {r.skipped} skipped (already done), {r.failed} failed "
          f"in {r.seconds:.1f} s; manifest {r.manifest}", file=sys.stderr)
    if r.failed:
        raise LiftError(f"{r.failed} of {r.total} jobs failed; see {r.manifest} (rerun to retry them)")


__all__ = ["BatchConfig", "BatchResult", "default_output", "main", "plan", "run_batch"]
