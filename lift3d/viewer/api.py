"""The viewer's endpoints behind the security checks of :mod:`lift3d.viewer.server`: each takes the parsed query
and answers ``(status, body, content type)``.

======================= ================================================================================
``GET /api/state``      title, versions, framing, render modes, export formats, the ``--compare`` source,
                        live status: what the page polls every second
``GET /api/frame``      PNG of source ``src`` (0, or 1 for ``--compare``), version ``v``, ``mode``
                        (rgb/alpha/depth/normals) from the orbit ``az``/``el``/``d``/``fov``/``size``
``GET /api/metrics``    ``{"metrics": {name: [[step, value], ...]}}`` of source ``src``'s ``metrics.jsonl``
``GET /api/validations`` ``{"images": [{"name", "step"}, ...]}``: its ``media/val_<step>.png``
``GET /api/validation`` one of those PNGs (``name``)
``POST /api/export``    version ``v`` of the viewed source in ``format`` (repeatable; none: the run's own set)
======================= ================================================================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lift3d.viewer import query as q
from lift3d.viewer.modes import MODES
from lift3d.viewer.orbit import Orbit, framing_distance
from lift3d.viewer.run_data import read_metrics, validation_images, validation_path

if TYPE_CHECKING:
    from lift3d.viewer.server import ViewerServer

Response = tuple[int, bytes, str]


def json_response(code: int, payload: dict) -> Response:
    return code, json.dumps(payload).encode(), "application/json"


def state(viewer: ViewerServer) -> dict:
    """What the page polls every second."""
    source = viewer.sources[0]
    compare = viewer.sources[1] if len(viewer.sources) > 1 else None
    formats = source.formats()
    return {
        "title": source.title,
        "versions": source.versions(),
        "target": list(source.target),
        "distance": framing_distance(source.radius),
        "fov": Orbit.fov_y,
        "modes": list(MODES),
        "exportable": bool(formats),
        "formats": formats,
        "run": source.run_dir is not None,
        "compare": None if compare is None else {"title": compare.title, "versions": compare.versions(),
                                                 "run": compare.run_dir is not None},
        "status": source.status(),
    }


def handle(viewer: ViewerServer, method: str, path: str, query: q.Query) -> Response | None:
    """The answer to ``method path?query`` (raises :class:`~lift3d.types.LiftError`); None: no such endpoint."""
    if method == "GET" and path == "/api/state":
        return json_response(200, state(viewer))
    if method == "GET" and path == "/api/frame":
        index = q.source(query, len(viewer.sources))
        mode = q.mode(query)
        png = viewer.renderers[index].png(q.version(query), Orbit.from_query(query), query.get("live") == ["1"], mode)
        return 200, png, "image/png"
    if method == "GET" and path == "/api/metrics":
        run_dir = viewer.sources[q.source(query, len(viewer.sources))].run_dir
        curves = read_metrics(run_dir) if run_dir is not None else {}
        return json_response(200, {"metrics": {name: [list(p) for p in points] for name, points in curves.items()}})
    if method == "GET" and path == "/api/validations":
        run_dir = viewer.sources[q.source(query, len(viewer.sources))].run_dir
        images = validation_images(run_dir) if run_dir is not None else []
        return json_response(200, {"images": [{"name": name, "step": step} for name, step in images]})
    if method == "GET" and path == "/api/validation":
        run_dir = viewer.sources[q.source(query, len(viewer.sources))].run_dir
        name = query.get("name", [""])[0]
        found = validation_path(run_dir, name) if run_dir is not None else None
        if found is None:
            return json_response(404, {"error": f"no validation image {name!r}"})
        return 200, found.read_bytes(), "image/png"
    if method == "POST" and path == "/api/export":
        written = viewer.sources[0].export(q.version(query), q.formats(query))
        return json_response(200, {"written": [str(p) for p in written]})
    return None
