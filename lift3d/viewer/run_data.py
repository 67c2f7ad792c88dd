"""What a run folder logged besides its scene: loss curves (``metrics.jsonl``) and validation grids
(``media/val_<step>.png``), read for the page of any run, finished or training."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

VALIDATION_NAME = re.compile(r"val_(\d+)\.png")
MAX_POINTS = 2000
"""Points per curve sent to the page; longer curves are thinned to every k-th point (the last one kept)."""


def read_metrics(run_dir: Path, max_points: int = MAX_POINTS) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from ``run_dir/metrics.jsonl`` (step order as logged).

    Lines that do not parse (the one a training run is writing) and non-finite values are skipped; ``{}``
    when there is no file.
    """
    path = Path(run_dir) / "metrics.jsonl"
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, IsADirectoryError):
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    for line in lines:
        try:
            record = json.loads(line)
            step = int(record["step"])
        except (ValueError, KeyError, TypeError):
            continue
        for name, value in record.items():
            if name != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                curves.setdefault(name, []).append((step, float(value)))
    return {name: _thin(points, max_points) for name, points in curves.items()}


def _thin(points: list[tuple[int, float]], max_points: int) -> list[tuple[int, float]]:
    if len(points) <= max_points:
        return points
    stride = math.ceil(len(points) / max_points)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept[: max_points - 1], points[-1]]


def validation_images(run_dir: Path) -> list[tuple[str, int]]:
    """``[(file name, step), ...]`` of ``run_dir/media/val_<step>.png``, by step."""
    media = Path(run_dir) / "media"
    if not media.is_dir():
        return []
    found = [(p.name, int(m.group(1))) for p in media.iterdir() if (m := VALIDATION_NAME.fullmatch(p.name))]
    return sorted(found, key=lambda item: item[1])


def validation_path(run_dir: Path, name: str) -> Path | None:
    """The file of validation image ``name`` (only ``val_<digits>.png`` in ``media/``), or None."""
    path = Path(run_dir) / "media" / name
    return path if VALIDATION_NAME.fullmatch(name) and path.is_file() else None
