"""``lift3d bench``: a ground-truth shoot-out of text-to-3D methods on the procedural world.

Runs presets x guidances x scenes x prompts x seeds as ``lift3d batch`` jobs (Ray, or ``--local``), scores each run
with ``lift3d eval`` (IoU, retrieval, Chamfer, normal consistency, lumpiness, colour) and each method's seeds with
diversity, and writes ``report.md``, ``report.json``, ``grid.png`` and ``index.html`` into ``--output``.
Rerunning the same command does only what is missing. See docs/bench.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lift3d.types import LiftError


@dataclass(frozen=True)
class BenchConfig:
    """Compare text-to-3D methods against the procedural ground truth. Usage: lift3d bench [options]
    [-- options for every run's lift3d generate, e.g. --stage.steps 100]. Methods are presets x guidances x scenes."""

    presets: tuple[str, ...] = ("default",)
    """Presets to compare (lift3d generate --preset)."""
    guidances: tuple[str, ...] = ("preset",)
    """First-stage guidances: preset (the preset's own), sds, vsd, nfsd, dds, sjc, csd, reward."""
    scenes: tuple[str, ...] = ("preset",)
    """First-stage scenes: preset (the preset's own), field, gaussians, mesh."""
    split: Literal["heldout", "tuning", "legacy"] = "heldout"
    """Prompt split of lift3d.data.prompt_split (see docs/data.md); ignored when --prompts is given."""
    prompts: tuple[str, ...] = ()
    """Explicit prompts (each must name a procedural family and colour) instead of --split."""
    limit: int = 0
    """Use only the first N prompts (0: all)."""
    seeds: tuple[int, ...] = (0,)
    """Seeds per (method, prompt); two or more give the diversity columns."""
    output: Path | None = None
    """Bench folder: manifest.jsonl, jobs/<id>/run, report.* (default outputs/bench/<split>)."""
    local: bool = False
    """Run the jobs one by one in this process instead of as Ray tasks (no Ray needed)."""
    run: bool = True
    """--no-run: only score what the manifest already holds and rewrite the report."""
    ray_address: str | None = None
    """``auto`` (or host:port) joins a running Ray cluster; unset starts a local Ray instance."""
    workers: int = 0
    """Local Ray instance only: concurrent jobs; 0: all cores."""
    cpus_per_job: int = 1
    """CPUs each job requests (and torch threads in the job)."""
    gpus_per_job: float | None = None
    """GPUs each Ray task requests; default 1 when the cluster has GPUs, else 0."""
    retries: int = 2
    """Extra attempts of a job that crashed."""
    quiet: bool = False
    """No progress bar."""


def prompts_of(cfg: BenchConfig) -> tuple[str, ...]:
    """The bench's prompts: ``--prompts`` or the split, cut to ``--limit``; each must have a ground truth."""
    from lift3d.data import parse_caption, split_prompts

    prompts = cfg.prompts or tuple(split_prompts(cfg.split))
    if cfg.limit < 0:
        raise LiftError("--limit must be >= 0")
    prompts = prompts[: cfg.limit] if cfg.limit else prompts
    bad = [p for p in prompts if None in parse_caption(p)]
    if bad:
        raise LiftError(f"no ground truth for {', '.join(map(repr, bad))}: a bench prompt must name a procedural "
                        "family and colour (e.g. 'a red cube')")
    return tuple(prompts)


def bench(cfg: BenchConfig, extra: tuple[str, ...] = ()):
    """Run (unless ``--no-run``), score and report; returns ``(batch result or None, method rows, output)``."""
    from lift3d.bench.grid import build_grid
    from lift3d.bench.report import write_report
    from lift3d.bench.run import Execution, run_grid
    from lift3d.bench.scores import score_grid

    try:
        grid = build_grid(cfg.presets, cfg.guidances, cfg.scenes, prompts_of(cfg), cfg.seeds, extra)
    except ValueError as e:
        raise LiftError(str(e)) from None
    out = (cfg.output or Path("outputs/bench") / cfg.split).resolve()
    result = None
    if cfg.run:
        ex = Execution(out, cfg.local, cfg.ray_address, cfg.workers, cfg.cpus_per_job, cfg.gpus_per_job, cfg.retries,
                       cfg.quiet)
        result = run_grid(grid, ex)
    rows = write_report(score_grid(grid, out), out)
    return result, rows, out


def main(argv: list[str], prog: str = "lift3d bench") -> None:
    """CLI: ``lift3d bench [options] [-- options for every run's lift3d generate]``."""
    from lift3d.errors import parse_args

    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    cfg = parse_args(BenchConfig, argv, prog)
    try:
        result, rows, out = bench(cfg, tuple(extra))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to continue (finished runs are kept)", file=sys.stderr)
        raise SystemExit(130) from None
    for r in rows:
        from lift3d.bench.report import row_cells

        print("  ".join(row_cells(r)))
    print(f"bench: report {out / 'report.md'}, {out / 'index.html'}", file=sys.stderr)
    if result is not None and result.failed:
        raise LiftError(f"{result.failed} of {result.total} runs failed; see {result.manifest} (rerun to retry them)")


__all__ = ["BenchConfig", "bench", "main", "prompts_of"]
