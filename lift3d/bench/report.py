"""The bench report: one row per method, written as ``report.md`` (Markdown tables), ``report.json``,
``grid.png`` (one row per method, one column per prompt) and ``index.html`` (both, for a browser).

Columns (means over the method's evaluated runs unless stated; see docs/bench.md): runs done / total,
retrieval (share of runs whose silhouettes match the prompted family best), IoU, Chamfer, normal consistency,
lumpiness, colour (share with the right nearest palette colour), diversity (``1 -`` pairwise silhouette IoU
and pairwise Chamfer between seeds, mean over prompts), seconds per run (the job's wall time, generation only)
and peak RSS (the largest the manifest recorded for the method's runs; the process's peak so far).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from lift3d.bench.rows import HEADER, MethodRow, _fmt, _mean, method_rows, row_cells  # noqa: E402,F401
from lift3d.bench.scores import CellResult


def per_prompt_table(results: list[CellResult]) -> list[str]:
    """Markdown lines: IoU per method (rows) and prompt (columns), mean over seeds."""
    prompts = list(dict.fromkeys(r.cell.prompt for r in results))
    methods = list(dict.fromkeys(r.cell.method.label for r in results))
    lines = ["| method | " + " | ".join(prompts) + " |", "| --- " * (len(prompts) + 1) + "|"]
    for m in methods:
        cells = [_fmt(_mean([r.report["iou"] for r in results if r.cell.method.label == m and r.cell.prompt == p
                             and r.report is not None]), "3") for p in prompts]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[MethodRow], results: list[CellResult], title: str = "lift3d bench") -> str:
    lines = [f"# {title}", "", "| " + " | ".join(HEADER) + " |", "| --- " * len(HEADER) + "|"]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in rows]
    lines += ["", "IoU per prompt (mean over seeds):", "", *per_prompt_table(results)]
    failed = [r for r in results if r.error]
    if failed:
        lines += ["", "Failed or unscored runs:", ""]
        lines += [f"- {r.cell.method.label} / {r.cell.prompt!r} / seed {r.cell.seed}: {r.error}" for r in failed]
    lines += ["", "![one row per method, one column per prompt](grid.png)", ""]
    return "\n".join(lines)


def write_report(results: list[CellResult], out: Path) -> list[MethodRow]:
    """Write ``report.md``, ``report.json``, ``grid.png`` and ``index.html`` into ``out``; returns the rows."""
    from lift3d.bench.images import image_grid, write_html

    rows = method_rows(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(rows, results))
    runs = [{"method": r.cell.method.label, "prompt": r.cell.prompt, "seed": r.cell.seed, "job": r.job_id,
             "status": None if r.record is None else r.record.get("status"), "run": None if r.run is None else str(r.run),
             "seconds": None if r.record is None else r.record.get("seconds"), "report": r.report, "error": r.error}
            for r in results]
    (out / "report.json").write_text(json.dumps({"methods": [asdict(r) for r in rows], "runs": runs}, indent=2) + "\n")
    image_grid(results, out / "grid.png")
    write_html(rows, results, out / "index.html")
    return rows


__all__ = ["HEADER", "MethodRow", "markdown", "method_rows", "row_cells", "write_report"]
