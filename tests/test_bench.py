"""lift3d bench: a grid of 2 methods x 2 held-out prompts x 1 seed on the tiny prior, run in-process (--local),
scored, reported (Markdown, JSON, image grid, HTML); a rerun does no work; another seed adds diversity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluate_surface import tiny_generate_args

from lift3d.batch.manifest import Manifest
from lift3d.bench.cli import BenchConfig, bench, main, prompts_of
from lift3d.bench.grid import KEEP, Method, build_grid
from lift3d.data import split_prompts
from lift3d.types import LiftError


def test_grid_jobs_and_labels() -> None:
    grid = build_grid(("default", "dreamfusion"), ("preset", "vsd"), ("preset",), ("a red cube", "a red cube"), (0, 1),
                      ("--stage.steps", "9"))
    assert [m.label for m in grid.methods] == ["default", "default+vsd", "dreamfusion", "dreamfusion+vsd"]
    assert grid.prompts == ("a red cube",) and len(grid.cells()) == 4 * 1 * 2
    assert Method("gaussian", "sds", "mesh").args() == ("stage.guidance:sds", "stage.scene:mesh")
    assert Method("gaussian", KEEP, KEEP).args() == ()
    cell = grid.cells()[3]
    assert cell.job.args == ("stage.guidance:vsd", "--stage.steps", "9") and cell.job.seed == 1
    ids = [c.job.key() for c in grid.cells()]
    assert len(set(ids)) == len(ids)
    other = build_grid(("default",), ("preset",), ("preset",), ("a red cube",), (0,), ("--stage.steps", "10"))
    assert other.cells()[0].job.key() not in ids  # other options, other runs
    with pytest.raises(ValueError, match="at least one of seeds"):
        build_grid(("default",), ("preset",), ("preset",), ("a red cube",), ())


def test_prompts_come_from_the_split_and_need_a_ground_truth() -> None:
    assert prompts_of(BenchConfig()) == tuple(split_prompts("heldout"))
    assert prompts_of(BenchConfig(split="legacy", limit=2)) == ("a red cube", "a blue sphere")
    with pytest.raises(LiftError, match="no ground truth for 'a hamburger'"):
        prompts_of(BenchConfig(prompts=("a hamburger",)))


def test_small_bench_runs_scores_and_reports(tiny_bundled_prior: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    extra = tuple(tiny_generate_args(tiny_bundled_prior))
    cfg = BenchConfig(presets=("dreamfusion", "sjc"), split="heldout", limit=2, output=out, local=True, quiet=True)
    result, rows, folder = bench(cfg, extra)
    assert folder == out.resolve()
    assert (result.total, result.done, result.skipped, result.failed) == (4, 4, 0, 0)
    assert [r.method for r in rows] == ["dreamfusion", "sjc"] and all(r.done == r.total == 2 for r in rows)
    for r in rows:
        assert 0 <= r.retrieval <= 1 and 0 <= r.iou <= 1 and 0 <= r.colour <= 1 and r.seconds > 0
        assert r.chamfer is not None and 0 < r.normal_consistency <= 1 and r.lumpiness is not None
        assert r.diversity is None and r.peak_rss_mb > 0  # one seed: no diversity
    report = json.loads((out / "report.json").read_text())
    assert len(report["runs"]) == 4 and all(x["status"] == "done" and x["report"] for x in report["runs"])
    md = (out / "report.md").read_text()
    prompts = split_prompts("heldout")[:2]
    assert "| dreamfusion | 2/2 |" in md and "normal cons." in md and all(p in md for p in prompts)
    html = (out / "index.html").read_text()
    assert "<table>" in html and 'src="grid.png"' in html
    from PIL import Image

    grid = Image.open(out / "grid.png")
    assert grid.size == (160 + 96 * 2, 36 + 96 * 2)  # label column + 2 prompts, header + 2 methods

    # a rerun does no generation and reuses the cached evaluations
    records = len(Manifest(out / "manifest.jsonl").records())
    cache = sorted(out.glob("jobs/*/bench_eval.pt"))
    mtimes = [p.stat().st_mtime_ns for p in cache]
    result, rows2, _ = bench(cfg, extra)
    assert (result.skipped, result.done) == (4, 0) and len(Manifest(out / "manifest.jsonl").records()) == records
    assert [p.stat().st_mtime_ns for p in cache] == mtimes and rows2[0].iou == rows[0].iou

    # a second seed of one method and prompt: only that run is new, and it gives the diversity column
    more = BenchConfig(presets=("dreamfusion",), prompts=(prompts[0],), seeds=(0, 1), output=out, local=True, quiet=True)
    result, rows3, _ = bench(more, extra)
    assert (result.skipped, result.done) == (1, 1)
    assert rows3[0].diversity is not None and 0 <= rows3[0].diversity <= 1 and rows3[0].diversity_chamfer is not None

    # the command line: --no-run rewrites the report from the manifest
    main(["--presets", "dreamfusion", "sjc", "--split", "heldout", "--limit", "2", "--output", str(out), "--no-run",
          "--", *extra])
    assert "dreamfusion" in capsys.readouterr().out
