"""One table row per method of a bench: the means of its runs' evaluations."""

from __future__ import annotations

from dataclasses import dataclass

from lift3d.bench.scores import CellResult, method_diversity


@dataclass
class MethodRow:
    """Aggregated scores of one method (None: nothing to average)."""

    method: str
    done: int
    total: int
    retrieval: float | None
    iou: float | None
    chamfer: float | None
    normal_consistency: float | None
    lumpiness: float | None
    colour: float | None
    diversity: float | None
    diversity_chamfer: float | None
    seconds: float | None
    peak_rss_mb: float | None


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def method_rows(results: list[CellResult]) -> list[MethodRow]:
    """One :class:`MethodRow` per method, in grid order."""
    by_method: dict[str, list[CellResult]] = {}
    for r in results:
        by_method.setdefault(r.cell.method.label, []).append(r)
    rows = []
    for label, rs in by_method.items():
        reps = [r.report for r in rs if r.report is not None]
        recs = [r.record for r in rs if r.done and r.record is not None]
        rss = [rec.get("peak_rss_mb") for rec in recs if rec.get("peak_rss_mb") is not None]
        div, div_cd = method_diversity(rs)
        rows.append(MethodRow(label, len(recs), len(rs), _mean([x["retrieval_correct"] for x in reps]),
                              _mean([x["iou"] for x in reps]), _mean([x["chamfer"] for x in reps]),
                              _mean([x.get("normal_consistency") for x in reps]), _mean([x.get("lumpiness") for x in reps]),
                              _mean([x["colour_correct"] for x in reps]), div, div_cd,
                              _mean([rec.get("seconds") for rec in recs]), max(rss) if rss else None))
    return rows


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    return {"pct": f"{100 * value:.0f} %", "3": f"{value:.3f}", "4": f"{value:.4f}", "0": f"{value:.0f}",
            "1": f"{value:.1f}"}[kind]


HEADER = ("method", "runs", "retrieval", "IoU", "Chamfer", "normal cons.", "lumpiness", "colour", "diversity (1-IoU)",
          "diversity (Chamfer)", "s / run", "peak RSS MiB")


def row_cells(r: MethodRow) -> list[str]:
    return [r.method, f"{r.done}/{r.total}", _fmt(r.retrieval, "pct"), _fmt(r.iou, "3"), _fmt(r.chamfer, "4"),
            _fmt(r.normal_consistency, "3"), _fmt(r.lumpiness, "3"), _fmt(r.colour, "pct"), _fmt(r.diversity, "3"),
            _fmt(r.diversity_chamfer, "4"), _fmt(r.seconds, "1"), _fmt(r.peak_rss_mb, "0")]
