"""Run a bench grid as ``lift3d batch`` jobs: on Ray (:func:`lift3d.batch.runner.run_batch`), or one after the
other in this process (``--local``: no Ray needed; tests and small machines).

Both write the grid as ``<output>/jobs.jsonl`` and go through :func:`lift3d.batch.runner.plan`, so they share
the job ids, the run folders (``<output>/jobs/<id>/run``) and the resumable manifest (``manifest.jsonl``): a
bench interrupted in either mode continues in either mode, skipping jobs already done.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from lift3d.batch.runner import BatchConfig, BatchResult, plan, run_batch
from lift3d.bench.grid import Grid


@dataclass(frozen=True)
class Execution:
    """Where and how the grid's jobs run (the ``lift3d batch`` options the bench passes through)."""

    output: Path
    local: bool = False
    ray_address: str | None = None
    workers: int = 0
    cpus_per_job: int = 1
    gpus_per_job: float | None = None
    retries: int = 2
    quiet: bool = False


def batch_config(grid: Grid, ex: Execution) -> BatchConfig:
    """Write ``jobs.jsonl`` and ``bench.json`` (the grid) and the equivalent ``lift3d batch`` config."""
    ex.output.mkdir(parents=True, exist_ok=True)
    (ex.output / "bench.json").write_text(json.dumps(grid.to_json(), indent=2) + "\n")
    jobs = grid.write_jobs(ex.output / "jobs.jsonl")
    return BatchConfig(jobs=jobs, output=ex.output, ray_address=ex.ray_address, workers=ex.workers,
                       cpus_per_job=ex.cpus_per_job, gpus_per_job=ex.gpus_per_job, retries=ex.retries, evaluate=False,
                       quiet=ex.quiet)


def run_local(cfg: BatchConfig) -> BatchResult:
    """:func:`~lift3d.batch.runner.run_batch` without Ray: the jobs not yet done, in order, in this process.

    A job that raises is tried again up to ``cfg.retries`` times (as Ray's ``max_retries``); bad input
    (:class:`~lift3d.types.LiftError`) gives a ``failed`` record at once. torch's thread count is restored after.
    """
    import torch

    from lift3d.batch.worker import failed_record, run_job
    from lift3d.progress import progress_bar

    start = time.time()
    jobs, manifest = plan(cfg)
    finished = manifest.finished()
    todo = [j for j in jobs if j.id not in finished]
    done = failed = 0
    threads = torch.get_num_threads()
    try:
        with progress_bar("bench", len(jobs), completed=len(jobs) - len(todo), quiet=cfg.quiet) as bar:
            for job in todo:
                record = _attempts(job, cfg.retries, run_job, failed_record)
                manifest.append(record)
                done += record["status"] == "done"
                failed += record["status"] != "done"
                bar.update(1, failed=failed)
    finally:
        torch.set_num_threads(threads)
    return BatchResult(len(jobs), len(jobs) - len(todo), done, failed, manifest.path, time.time() - start)


def _attempts(job, retries: int, run_job, failed_record) -> dict:
    for attempt in range(retries + 1):
        try:
            return run_job(job)
        except Exception as e:  # noqa: BLE001 - any crash of a job is its failure, as under Ray
            if attempt == retries:
                return failed_record(job, e)
    raise AssertionError("unreachable")


def run_grid(grid: Grid, ex: Execution) -> BatchResult:
    """Run every job of ``grid`` not yet done (Ray unless ``ex.local``)."""
    cfg = batch_config(grid, ex)
    return run_local(cfg) if ex.local else run_batch(cfg)


__all__ = ["Execution", "batch_config", "run_grid", "run_local"]
