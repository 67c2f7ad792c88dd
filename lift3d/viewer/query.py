"""The viewer's URL query parameters besides the orbit's (:meth:`lift3d.viewer.orbit.Orbit.from_query`).

A malformed value raises :class:`BadRequest` (the server answers ``400`` with its one line); a well-formed
value that names nothing there (version 7 of 2) is a :class:`~lift3d.types.LiftError` (``422``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast, get_args

from lift3d.types import LiftError
from lift3d.viewer.modes import MODES, RenderMode

if TYPE_CHECKING:
    from lift3d.export.cli import ExportFormat

Query = dict[str, list[str]]


def export_formats() -> tuple[ExportFormat, ...]:
    """Every format ``lift3d export`` writes, in its order (imported on use: :mod:`lift3d.export` is slow to load)."""
    from lift3d.export.cli import ExportFormat

    return get_args(ExportFormat)


class BadRequest(LiftError):
    """A query parameter the viewer cannot parse (HTTP 400)."""


def _one(query: Query, key: str, default: str) -> str:
    return query.get(key, [default])[0]


def version(query: Query, key: str = "v") -> int:
    """``v``: the version index (default 0)."""
    try:
        return int(_one(query, key, "0"))
    except ValueError:
        raise LiftError(f"bad version: {key} must be an integer") from None


def mode(query: Query) -> RenderMode:
    """``mode``: ``rgb`` (default), ``alpha``, ``depth`` or ``normals``."""
    value = _one(query, "mode", "rgb")
    if value not in MODES:
        raise BadRequest(f"unknown render mode {value!r}; choose one of {', '.join(MODES)}")
    return cast(RenderMode, value)


def source(query: Query, count: int) -> int:
    """``src``: 0 for the viewed path (default), 1 for ``--compare``'s."""
    value = _one(query, "src", "0")
    if value not in ("0", "1"):
        raise BadRequest(f"bad source {value!r}: src must be 0 (the viewed path) or 1 (--compare)")
    if int(value) >= count:
        raise LiftError("no second source: start the viewer with --compare PATH")
    return int(value)


def formats(query: Query) -> list[ExportFormat]:
    """``format`` (repeatable, or comma-separated): export formats, in order, without repeats; none: the default set."""
    names = [name for value in query.get("format", []) for name in value.split(",") if name]
    known = export_formats()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BadRequest(f"unknown export format {unknown[0]!r}; choose from {', '.join(known)}")
    return list(dict.fromkeys(cast("ExportFormat", name) for name in names))
