"""The batch manifest: ``manifest.jsonl``, one JSON record each time a job ends (done, or failed once its
retries are used up), appended and flushed to disk as results arrive, so an interrupted batch loses
nothing it finished.

A record: ``job`` (id), ``kind``, ``spec`` (the row), ``status`` (``done`` or ``failed``), ``outputs``
(run folders, relative to the batch folder), ``files`` (exports), ``metrics`` (one dict per run folder),
``attempts``, ``started``/``finished`` (Unix time), ``seconds``, ``host``, ``pid``, ``device``,
``peak_rss_mb`` (of the worker process so far), ``error``.
A job is finished when its newest record is ``done`` and its run folders still exist.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Manifest:
    """Append-only JSONL manifest at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """All records in order; a line cut short by a crash mid-write is ignored."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "job" in record:
                out.append(record)
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """The newest record of each job."""
        return {r["job"]: r for r in self.records()}

    def finished(self) -> set[str]:
        """Ids of jobs whose newest record is ``done`` and whose outputs are all still there."""
        root = self.path.parent
        return {job for job, r in self.latest().items()
                if r.get("status") == "done" and all((root / p).exists() for p in r.get("outputs", []))}

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and flush it to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


__all__ = ["Manifest"]
