"""Read a jobs file into :class:`Job` rows.

Formats (chosen by the file's suffix):

* ``.txt``: one prompt per line (blank lines and ``#`` comments are skipped): text-to-3D jobs.
* ``.csv``: a header naming any of ``prompt, image, preset, mode, seed``; a row with ``image`` is an
  image-to-3D job (``mode`` picks how), otherwise a text-to-3D job (``preset`` picks the preset).
* ``.jsonl``: one object per line with the same keys, plus ``args``: a list of extra command-line
  options for that job (e.g. ``["--stage.steps", "800"]``).

Every problem (missing file, malformed row, bad value) raises :class:`~lift3d.types.LiftError` naming
the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lift3d.types import LiftError

COLUMNS = ("prompt", "image", "preset", "mode", "seed")
"""Keys a CSV header or a JSONL object may use (JSONL also takes ``args``)."""

Kind = Literal["generate", "reconstruct"]


@dataclass(frozen=True)
class Job:
    """One row of a jobs file, before it is resolved into a run config."""

    where: str
    """``file:line``, for error messages."""
    prompt: str = ""
    image: str | None = None
    """Input image (absolute, or relative to the jobs file's folder); makes this a reconstruct job."""
    preset: str | None = None
    mode: str | None = None
    seed: int | None = None
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        return "reconstruct" if self.image else "generate"

    def spec(self) -> dict[str, Any]:
        """What the job is (everything but its position in the file), as plain JSON values."""
        d = asdict(self)
        del d["where"]
        d["args"] = list(self.args)
        return {k: v for k, v in d.items() if v not in (None, "", [])}

    def key(self) -> str:
        """A stable id: a readable slug plus a hash of :meth:`spec`, so reordering the file keeps ids."""
        text = self.prompt or Path(self.image or "image").stem
        slug = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:40] or "job"
        digest = hashlib.sha1(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()[:10]
        return f"{slug}-{digest}"


def _seed(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise LiftError(f"{where}: seed must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LiftError(f"{where}: seed must be an integer, got {value!r}") from None


def _job(fields: dict[str, Any], where: str, base: Path) -> Job:
    prompt = fields.get("prompt") or ""
    image = fields.get("image") or None
    for name in ("prompt", "image", "preset", "mode"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise LiftError(f"{where}: {name} must be a string, got {fields[name]!r}")
    if not prompt.strip() and not image:
        raise LiftError(f"{where}: the row has neither a prompt nor an image")
    if image and not Path(image).is_absolute():
        image = str(base / image)
    args = fields.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise LiftError(f"{where}: args must be a list of strings, e.g. [\"--stage.steps\", \"800\"]")
    if image and fields.get("preset"):
        raise LiftError(f"{where}: preset applies to text prompts; an image job takes mode instead")
    if not image and fields.get("mode"):
        raise LiftError(f"{where}: mode applies to image jobs; a text job takes preset instead")
    return Job(where, prompt.strip(), image, fields.get("preset") or None, fields.get("mode") or None,
               _seed(fields.get("seed"), where), tuple(args))


def _read_txt(path: Path) -> list[Job]:
    jobs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            jobs.append(Job(f"{path}:{i}", prompt=line.strip()))
    return jobs


def _read_csv(path: Path) -> list[Job]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        unknown = [h for h in header if h not in COLUMNS]
        if not header or unknown:
            raise LiftError(f"{path}:1: the header must name columns among {', '.join(COLUMNS)}"
                            + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        jobs = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise LiftError(f"{where}: the row has a different number of fields than the header ({len(header)})")
            if not any(v.strip() for v in row.values()):
                continue
            jobs.append(_job({k: v.strip() for k, v in row.items()}, where, path.parent))
    return jobs


def _read_jsonl(path: Path) -> list[Job]:
    jobs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{i}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LiftError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise LiftError(f"{where}: each line must be a JSON object like {{\"prompt\": \"a red cube\"}}")
        unknown = sorted(set(obj) - {*COLUMNS, "args"})
        if unknown:
            raise LiftError(f"{where}: unknown keys {', '.join(unknown)}; use {', '.join(COLUMNS)}, args")
        jobs.append(_job(obj, where, path.parent))
    return jobs


def read_jobs(path: Path) -> list[Job]:
    """Every job of a ``.txt``, ``.csv`` or ``.jsonl`` file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise LiftError(f"jobs file {path} does not exist; pass a prompts .txt, a .csv or a .jsonl")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        jobs = _read_txt(path)
    elif suffix == ".csv":
        jobs = _read_csv(path)
    elif suffix == ".jsonl":
        jobs = _read_jsonl(path)
    else:
        raise LiftError(f"{path}: unknown jobs file type {path.suffix!r}; use .txt (one prompt per line), .csv or .jsonl")
    if not jobs:
        raise LiftError(f"{path} has no jobs")
    return jobs


__all__ = ["COLUMNS", "Job", "Kind", "read_jobs"]
