"""``lift3d bench``: a grid of text-to-3D methods scored against the procedural ground truth.

* :mod:`lift3d.bench.grid`: methods (preset x guidance x scene) x prompts x seeds as ``lift3d batch`` jobs.
* :mod:`lift3d.bench.run`: running them on Ray or in this process (``--local``), with the batch manifest.
* :mod:`lift3d.bench.scores`: ``lift3d eval`` of every finished run (cached), diversity over seeds.
* :mod:`lift3d.bench.report`, :mod:`lift3d.bench.images`: Markdown/JSON tables, the image grid, the HTML page.
* :mod:`lift3d.bench.cli`: the command line.
"""

from lift3d.bench.grid import Grid, Method, build_grid

__all__ = ["Grid", "Method", "build_grid"]
