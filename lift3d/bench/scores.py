"""Score every finished run of a bench with ``lift3d eval``'s metrics, and each method's diversity over seeds.

A run's evaluation (:func:`lift3d.pipelines.evaluate.evaluate_run_full`: the JSON report, plus the 16 evaluation
silhouettes and the mesh samples that diversity compares) is cached in its job folder as ``bench_eval.pt``, keyed
by the manifest record's ``finished`` time, so rerunning a bench scores only runs that are new or were redone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lift3d.batch.manifest import Manifest
from lift3d.bench.grid import Cell, Grid

CACHE = "bench_eval"
"""The cached evaluation of a job: ``bench_eval.json`` (report, finish time) and ``bench_eval.safetensors``."""


@dataclass
class CellResult:
    """One run of the grid: its manifest record (None when it never ran) and, if done, its evaluation."""

    cell: Cell
    job_id: str
    record: dict[str, Any] | None
    run: Path | None = None
    report: dict[str, Any] | None = None
    """``lift3d eval``'s report (:class:`~lift3d.pipelines.evaluate.EvalReport` as a dict)."""
    alpha: torch.Tensor | None = field(default=None, repr=False)
    points: Any = field(default=None, repr=False)
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.record is not None and self.record.get("status") == "done"


def _evaluate(run: Path, job_folder: Path, finished: float) -> tuple[dict[str, Any], torch.Tensor, Any]:
    """``(report, alpha, points)`` of ``run``, from the cache when it belongs to the same finished run."""
    import json

    import numpy as np
    from safetensors.torch import load_file, save_file

    from lift3d.files import atomic_write_text
    from lift3d.pipelines.evaluate import evaluate_run_full

    meta_path, tensor_path = job_folder / f"{CACHE}.json", job_folder / f"{CACHE}.safetensors"
    if meta_path.is_file() and tensor_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("finished") == finished:
            t = load_file(str(tensor_path))
            return meta["report"], t["alpha"].float(), t["points"].numpy()
    e = evaluate_run_full(run)
    report = asdict(e.report)
    tmp = tensor_path.with_suffix(".tmp")
    save_file({"alpha": (e.alpha > 0.5).to(torch.uint8).contiguous(),
               "points": torch.as_tensor(np.asarray(e.points)).contiguous()}, str(tmp))
    tmp.replace(tensor_path)
    atomic_write_text(meta_path, json.dumps({"finished": finished, "report": report}) + "\n")
    return report, e.alpha, e.points


def score_grid(grid: Grid, root: Path) -> list[CellResult]:
    """Evaluate every done run of ``grid`` recorded in ``root``'s manifest (one result per cell, in order)."""
    from lift3d.types import LiftError

    root = Path(root).resolve()
    latest = Manifest(root / "manifest.jsonl").latest()
    results = []
    for cell in grid.cells():
        job_id = cell.job.key()  # the id lift3d batch gives the job
        r = CellResult(cell, job_id, latest.get(job_id))
        if r.done and r.record is not None and r.record.get("outputs"):
            r.run = root / r.record["outputs"][0]
            try:
                r.report, r.alpha, r.points = _evaluate(r.run, root / "jobs" / job_id, r.record["finished"])
            except LiftError as e:
                r.error = str(e)
        elif r.record is not None:
            r.error = r.record.get("error")
        results.append(r)
    return results


def method_diversity(results: list[CellResult]) -> tuple[float | None, float | None]:
    """Mean over prompts (with two or more evaluated seeds) of the silhouette and Chamfer diversity of one
    method's runs (:mod:`lift3d.pipelines.diversity`); None where no prompt has two seeds (or meshes)."""
    from lift3d.pipelines.diversity import diversity_by_prompt
    from lift3d.pipelines.evaluate import ground_truth

    ok = [r for r in results if r.report is not None and r.alpha is not None]
    if not ok:
        return None, None
    scales = [ground_truth(r.report["family"], r.report["colour"]).bounding_radius() for r in ok]  # type: ignore[index]
    by_prompt = diversity_by_prompt([r.cell.prompt for r in ok], [r.cell.seed for r in ok],
                                    [r.alpha for r in ok], [r.points for r in ok], scales)  # type: ignore[misc]
    if not by_prompt:
        return None, None
    sil = sum(d.silhouette for d in by_prompt.values()) / len(by_prompt)
    chamfers = [d.chamfer for d in by_prompt.values() if d.chamfer is not None]
    return sil, (sum(chamfers) / len(chamfers) if chamfers else None)


__all__ = ["CACHE", "CellResult", "method_diversity", "score_grid"]
