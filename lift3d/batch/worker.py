"""What one Ray task runs: a generate, reconstruct, edit or texture job in its own folder, returning its manifest
record.

Each attempt first appends ``{pid, host, started}`` to ``<job>/attempts.jsonl`` (so a retried job knows
its attempt count, and an operator can see which process ran it). A text, edit or texture job that was
interrupted (its worker killed) resumes from its newest checkpoint; a reconstruct job starts over in a fresh
folder.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from lift3d.batch.resolve import BatchJob


def record_attempt(job: BatchJob) -> int:
    """Log this attempt in ``attempts.jsonl``; returns the attempt number (1 for the first)."""
    job.folder.mkdir(parents=True, exist_ok=True)
    path = job.folder / "attempts.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return attempts(job)


def attempts(job: BatchJob) -> int:
    """How many attempts this job has started so far."""
    path = job.folder / "attempts.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def final_metrics(run: Path) -> dict[str, float]:
    """The last line of a run's ``metrics.jsonl`` (empty when it logged none)."""
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def _run_generate(job: BatchJob) -> list[Path]:
    from lift3d.pipelines.generate import generate
    from lift3d.runs import latest_valid_checkpoint

    cfg = job.config
    resumable = cfg.num_samples == 1 and latest_valid_checkpoint(job.run_dir / "ckpt") is not None
    return generate(replace(cfg, resume=resumable, overwrite=not resumable))


def _run_reconstruct(job: BatchJob) -> list[Path]:
    from lift3d.pipelines.reconstruct import reconstruct

    return [reconstruct(replace(job.config, overwrite=True))]


def _run_one_stage(job: BatchJob) -> list[Path]:
    """An edit or texture job (a one-stage run: resumed from its newest checkpoint when it has one)."""
    from lift3d.pipelines.edit import EditConfig, edit
    from lift3d.pipelines.texture import texture
    from lift3d.runs import latest_valid_checkpoint

    cfg = job.config
    resumable = latest_valid_checkpoint(job.run_dir / "ckpt") is not None
    cfg = replace(cfg, resume=resumable, overwrite=not resumable)
    return [edit(cfg) if isinstance(cfg, EditConfig) else texture(cfg)]


def _run(job: BatchJob) -> list[Path]:
    """The job's run folders, by the type of its config."""
    from lift3d.pipelines.edit import EditConfig
    from lift3d.pipelines.generate_config import GenerateConfig
    from lift3d.pipelines.texture import TextureConfig

    if isinstance(job.config, (EditConfig, TextureConfig)):
        return _run_one_stage(job)
    if isinstance(job.config, GenerateConfig):
        return _run_generate(job)
    return _run_reconstruct(job)


def _evaluate(run: Path) -> dict[str, Any]:
    from lift3d.pipelines.evaluate import evaluate_run
    from lift3d.types import LiftError

    try:
        r = evaluate_run(run)
    except LiftError as e:
        return {"eval_error": str(e)}
    return {"iou": r.iou, "retrieval_correct": r.retrieval_correct, "colour_correct": r.colour_correct,
            "chamfer": r.chamfer}


def _device_name() -> str:
    import torch

    return f"cuda:{torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"


def _peak_rss_mb() -> float:
    """Peak resident memory of this worker process so far (Linux reports KiB), in MiB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_job(job: BatchJob) -> dict[str, Any]:
    """Run ``job`` and return its manifest record. Bad input (:class:`LiftError`) gives a ``failed`` record
    at once, since retrying cannot fix it; other exceptions propagate, for Ray to retry the task."""
    import torch

    from lift3d.types import LiftError

    torch.set_num_threads(max(1, job.threads))
    attempt = record_attempt(job)
    started = time.time()
    try:
        runs = _run(job)
    except LiftError as e:
        return failed_record(job, e)
    metrics = []
    for run in runs:
        m = final_metrics(run)
        if job.evaluate and job.kind == "generate":
            m.update(_evaluate(run))
        metrics.append(m)
    finished = time.time()
    files = sorted(p for run in runs for p in (run / "export").glob("*") if p.is_file())
    return {"job": job.id, "kind": job.kind, "spec": job.spec, "status": "done",
            "outputs": [str(r.relative_to(job.root)) for r in runs],
            "files": [str(p.relative_to(job.root)) for p in files], "metrics": metrics, "attempts": attempt,
            "started": started, "finished": finished, "seconds": round(finished - started, 3),
            "host": socket.gethostname(), "pid": os.getpid(), "device": _device_name(), "peak_rss_mb": _peak_rss_mb(),
            "error": None}


def failed_record(job: BatchJob, error: BaseException) -> dict[str, Any]:
    """The ``failed`` manifest record of a job whose retries are used up."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return {"job": job.id, "kind": job.kind, "spec": job.spec, "status": "failed", "outputs": [], "files": [],
            "metrics": [], "attempts": attempts(job), "started": None, "finished": time.time(), "seconds": None,
            "host": None, "pid": None, "device": None, "peak_rss_mb": None,
            "error": f"{type(error).__name__}: {lines[-1] if lines else ''}"}


__all__ = ["attempts", "failed_record", "final_metrics", "record_attempt", "run_job"]
