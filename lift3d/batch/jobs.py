"""Read a jobs file into typed job rows: :class:`Job` (text- or image-to-3D), :class:`EditJob`, :class:`TextureJob`.

Formats (chosen by the file's suffix):

* ``.txt``: one prompt per line (blank lines and ``#`` comments are skipped): text-to-3D jobs.
* ``.csv``: a header naming any of :data:`COLUMNS`; empty cells are absent. A row's ``command`` picks its kind:
  ``edit`` (``lift3d edit``: ``source``, ``prompt``, optional ``source_prompt``, ``mode``, ``seed``), ``texture``
  (``lift3d texture``: ``mesh``, ``prompt``, optional ``texture_size``, ``seed``); empty, ``generate`` or
  ``reconstruct``: a row with ``image`` is an image-to-3D job (``mode`` picks how), otherwise a text-to-3D job
  (``preset`` picks the preset).
* ``.jsonl``: one object per line with the same keys, plus ``args``: a list of extra command-line
  options for that job (e.g. ``["--stage.steps", "800"]``).

Relative ``image``, ``source`` and ``mesh`` paths are relative to the jobs file's folder. Every problem (missing
file, malformed row, a key the row's command does not take, bad value) raises :class:`~lift3d.types.LiftError`
naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from lift3d.types import LiftError

COLUMNS = ("command", "prompt", "image", "preset", "mode", "seed", "source", "source_prompt", "mesh", "texture_size")
"""Keys a CSV header or a JSONL object may use (JSONL also takes ``args``)."""

Kind = Literal["generate", "reconstruct", "edit", "texture"]


def _spec(job: Any, command: str | None) -> dict[str, Any]:
    """A job's fields but ``where``, as plain JSON values without the empty ones (plus ``command`` when given)."""
    d = asdict(job)
    del d["where"]
    d["args"] = list(d["args"])
    d = {k: v for k, v in d.items() if v not in (None, "", [])}
    return d if command is None else {"command": command, **d}


def _key(text: str, spec: dict[str, Any]) -> str:
    """A readable slug of ``text`` plus a hash of ``spec``, so reordering the file keeps ids."""
    slug = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:40] or "job"
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{slug}-{digest}"


@dataclass(frozen=True)
class Job:
    """A text-to-3D (``lift3d generate``) or image-to-3D (``lift3d reconstruct``) row, before it is resolved."""

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
        return _spec(self, None)

    def key(self) -> str:
        """A stable id: a readable slug plus a hash of :meth:`spec`, so reordering the file keeps ids."""
        return _key(self.prompt or Path(self.image or "image").stem, self.spec())


@dataclass(frozen=True)
class EditJob:
    """A ``command: edit`` row (``lift3d edit``): edit ``source`` toward ``prompt``."""

    where: str
    source: str
    """A generate/reconstruct run folder, a splat file or a mesh (absolute, or relative to the jobs file)."""
    prompt: str
    """The target: what the edited asset should show."""
    source_prompt: str | None = None
    """What the source shows; default: the run folder's prompt (required for files)."""
    mode: str | None = None
    """``appearance`` or ``geometry+appearance`` (default: ``lift3d edit``'s)."""
    seed: int | None = None
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        return "edit"

    def spec(self) -> dict[str, Any]:
        return _spec(self, "edit")

    def key(self) -> str:
        return _key(f"edit {self.prompt}", self.spec())


@dataclass(frozen=True)
class TextureJob:
    """A ``command: texture`` row (``lift3d texture``): paint a texture on ``mesh`` from ``prompt``."""

    where: str
    mesh: str
    """A mesh file (absolute, or relative to the jobs file)."""
    prompt: str
    texture_size: int | None = None
    """Side of the texture in texels (default: ``lift3d texture``'s)."""
    seed: int | None = None
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        return "texture"

    def spec(self) -> dict[str, Any]:
        return _spec(self, "texture")

    def key(self) -> str:
        return _key(f"texture {self.prompt}", self.spec())


AnyJob = Job | EditJob | TextureJob
"""Any row of a jobs file."""


def _columns(cls: type) -> tuple[str, ...]:
    """The file columns a job class takes (its fields but ``where`` and ``args``)."""
    return tuple(f.name for f in fields(cls) if f.name not in ("where", "args"))


def _int(fields_: dict[str, Any], name: str, where: str) -> int | None:
    value = fields_.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise LiftError(f"{where}: {name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LiftError(f"{where}: {name} must be an integer, got {value!r}") from None


def _seed(value: Any, where: str) -> int | None:
    return _int({"seed": value}, "seed", where)


def _path(value: str, base: Path) -> str:
    return value if Path(value).is_absolute() else str(base / value)


def _args(fields_: dict[str, Any], where: str) -> tuple[str, ...]:
    args = fields_.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise LiftError(f"{where}: args must be a list of strings, e.g. [\"--stage.steps\", \"800\"]")
    return tuple(args)


def _given(fields_: dict[str, Any]) -> list[str]:
    """The columns of a row that hold a value (in :data:`COLUMNS` order, ``command`` left out)."""
    return [k for k in COLUMNS[1:] if fields_.get(k) not in (None, "")]


def _job(fields_: dict[str, Any], where: str, base: Path) -> Job:
    """A generate/reconstruct row (no ``command``, or ``generate`` / ``reconstruct``)."""
    for name in _given(fields_):
        if name not in _columns(Job):
            command = "edit" if name in _columns(EditJob) else "texture"
            raise LiftError(f"{where}: {name} belongs to {command} jobs; name the command, e.g. "
                            f"\"command\": \"{command}\"")
    prompt = fields_.get("prompt") or ""
    image = fields_.get("image") or None
    if not prompt.strip() and not image:
        raise LiftError(f"{where}: the row has neither a prompt nor an image")
    if image:
        image = _path(image, base)
    args = _args(fields_, where)
    if image and fields_.get("preset"):
        raise LiftError(f"{where}: preset applies to text prompts; an image job takes mode instead")
    if not image and fields_.get("mode"):
        raise LiftError(f"{where}: mode applies to image jobs; a text job takes preset instead")
    return Job(where, prompt.strip(), image, fields_.get("preset") or None, fields_.get("mode") or None,
               _seed(fields_.get("seed"), where), args)


def _only(cls: type, what: str, fields_: dict[str, Any], where: str) -> None:
    """Refuse a value in a column that ``cls`` rows (``what``, e.g. "an edit job") do not take."""
    foreign = [k for k in _given(fields_) if k not in _columns(cls)]
    if foreign:
        raise LiftError(f"{where}: {what} takes {', '.join(_columns(cls))} (and args), not {', '.join(foreign)}")


def _edit_job(fields_: dict[str, Any], where: str, base: Path) -> EditJob:
    _only(EditJob, "an edit job", fields_, where)
    source, prompt = (fields_.get("source") or "").strip(), (fields_.get("prompt") or "").strip()
    if not source or not prompt:
        missing = " and ".join(n for n, v in (("source", source), ("prompt", prompt)) if not v)
        raise LiftError(f"{where}: an edit job needs a source (a run folder, splat file or mesh) and a prompt "
                        f"(the target); this row has no {missing}")
    return EditJob(where, _path(source, base), prompt, (fields_.get("source_prompt") or "").strip() or None,
                   fields_.get("mode") or None, _seed(fields_.get("seed"), where), _args(fields_, where))


def _texture_job(fields_: dict[str, Any], where: str, base: Path) -> TextureJob:
    _only(TextureJob, "a texture job", fields_, where)
    mesh, prompt = (fields_.get("mesh") or "").strip(), (fields_.get("prompt") or "").strip()
    if not mesh or not prompt:
        missing = " and ".join(n for n, v in (("mesh", mesh), ("prompt", prompt)) if not v)
        raise LiftError(f"{where}: a texture job needs a mesh and a prompt; this row has no {missing}")
    return TextureJob(where, _path(mesh, base), prompt, _int(fields_, "texture_size", where),
                      _seed(fields_.get("seed"), where), _args(fields_, where))


def _row(fields_: dict[str, Any], where: str, base: Path) -> AnyJob:
    """One row of a .csv / .jsonl file, typed by its ``command``."""
    for name in ("command", "prompt", "image", "preset", "mode", "source", "source_prompt", "mesh"):
        if fields_.get(name) is not None and not isinstance(fields_[name], str):
            raise LiftError(f"{where}: {name} must be a string, got {fields_[name]!r}")
    command = (fields_.get("command") or "").strip()
    match command:
        case "edit":
            return _edit_job(fields_, where, base)
        case "texture":
            return _texture_job(fields_, where, base)
        case "" | "generate" | "reconstruct":
            job = _job(fields_, where, base)
            if command and job.kind != command:
                raise LiftError(f"{where}: a {command} job " + ("needs an image" if command == "reconstruct" else
                                                                 "takes a prompt, not an image (that is reconstruct)"))
            return job
        case _:
            raise LiftError(f"{where}: unknown command {command!r}; choose generate, reconstruct, edit or texture "
                            "(or leave it out: generate, or reconstruct for a row with an image)")


def _read_txt(path: Path) -> list[AnyJob]:
    jobs: list[AnyJob] = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            jobs.append(Job(f"{path}:{i}", prompt=line.strip()))
    return jobs


def _read_csv(path: Path) -> list[AnyJob]:
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
            jobs.append(_row({k: v.strip() for k, v in row.items()}, where, path.parent))
    return jobs


def _read_jsonl(path: Path) -> list[AnyJob]:
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
        jobs.append(_row(obj, where, path.parent))
    return jobs


def read_jobs(path: Path) -> list[AnyJob]:
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


__all__ = ["COLUMNS", "AnyJob", "EditJob", "Job", "Kind", "TextureJob", "read_jobs"]
