"""The bench's pictures: a grid of one thumbnail per (method, prompt) and the HTML page around the tables.

A run's thumbnail is the first view of its newest validation render (``media/val_*.png``: views in the top row,
their alpha below; the first view is azimuth 0 at elevation 20), else the first frame of its turntable, else a
grey cell (the run failed or wrote neither). Runs of several seeds show the first seed.
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

import numpy as np

from lift3d.bench.rows import HEADER, MethodRow, row_cells
from lift3d.bench.scores import CellResult

CELL = 96
"""Side of one grid cell in pixels."""
LABEL_WIDTH = 160
"""Width of the method-name column of ``grid.png``."""
HEADER_HEIGHT = 36
"""Height of the prompt row of ``grid.png`` (two lines of text)."""


def thumbnail(run: Path | None, size: int = CELL) -> np.ndarray:
    """``[size, size, 3]`` uint8 thumbnail of a run folder (grey when there is nothing to show)."""
    from PIL import Image

    image = None
    if run is not None:
        vals = sorted((run / "media").glob("val_*.png"))
        if vals:
            full = Image.open(vals[-1]).convert("RGB")
            side = full.height // 2  # two rows of square tiles: renders, then alpha
            image = full.crop((0, 0, side, side))
        else:
            image = _turntable_frame(run)
    if image is None:
        return np.full((size, size, 3), 200, np.uint8)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def _turntable_frame(run: Path):
    from PIL import Image

    for path in sorted((run / "media").glob("turntable.*")):
        try:
            if path.suffix == ".gif":
                return Image.open(path).convert("RGB")
            import imageio.v2 as imageio

            with imageio.get_reader(path) as reader:
                return Image.fromarray(reader.get_data(0)).convert("RGB")
        except Exception:  # noqa: BLE001 - no video backend, or a truncated file: no thumbnail
            continue
    return None


def image_grid(results: list[CellResult], path: Path) -> Path:
    """``grid.png``: one row per method (its name on the left), one column per prompt (first seed)."""
    from PIL import Image, ImageDraw

    prompts = list(dict.fromkeys(r.cell.prompt for r in results))
    methods = list(dict.fromkeys(r.cell.method.label for r in results))
    first = {}
    for r in results:
        first.setdefault((r.cell.method.label, r.cell.prompt), r)
    canvas = Image.new("RGB", (LABEL_WIDTH + CELL * len(prompts), HEADER_HEIGHT + CELL * len(methods)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, prompt in enumerate(prompts):
        draw.text((LABEL_WIDTH + j * CELL + 2, 4), "\n".join(textwrap.wrap(prompt, 15)[:2]), fill="black")
    for i, method in enumerate(methods):
        draw.text((4, HEADER_HEIGHT + i * CELL + CELL // 2 - 6), method[:26], fill="black")
        for j, prompt in enumerate(prompts):
            r = first.get((method, prompt))
            tile = Image.fromarray(thumbnail(r.run if r is not None else None))
            canvas.paste(tile, (LABEL_WIDTH + j * CELL, HEADER_HEIGHT + i * CELL))
    canvas.save(path)
    return path


def write_html(rows: list[MethodRow], results: list[CellResult], path: Path) -> Path:
    """``index.html``: the method table and ``grid.png`` (next to it), with the prompts as column titles."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row_cells(r)) + "</tr>" for r in rows)
    prompts = ", ".join(html.escape(p) for p in dict.fromkeys(r.cell.prompt for r in results))
    path.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lift3d bench</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}</style></head>
<body><h1>lift3d bench</h1>
<table><tr>{head}</tr>{body}</table>
<h2>Results</h2><p>One row per method, one column per prompt ({prompts}); first seed.</p>
<img src="grid.png" alt="one row per method, one column per prompt">
<p>Metrics: see docs/bench.md. Data: report.json, report.md, manifest.jsonl.</p>
</body></html>
""")
    return path


__all__ = ["CELL", "image_grid", "thumbnail", "write_html"]
