"""How the ``lift3d`` command line fails: always in one line, never with a traceback.

* Usage errors (an unknown flag, a bad value, a wrong subcommand): :func:`parse_args` runs ``tyro.cli`` with
  the CLI's conventions (flags may come before or after subcommands) and condenses tyro's boxed error into
  one line naming the problem and ``PROG --help``; exit code 2.
* Unexpected exceptions (bugs): :func:`report_crash` writes the full traceback to a log file and returns one
  line naming the error and the log; the CLI exits 1. The log folder is ``$LIFT3D_LOG_DIR`` when set, else
  ``$XDG_STATE_HOME/lift3d/logs`` (``~/.local/state/lift3d/logs``), else the system temp folder.

Importing this module is cheap (no torch, no tyro), so ``lift3d --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOG_DIR_ENV = "LIFT3D_LOG_DIR"
"""Environment variable that overrides the folder of crash logs."""

MAX_MESSAGE_CHARS = 400
"""Longer error messages are cut in the one-line report (the log has them whole)."""


def tyro_config() -> tuple[Any, ...]:
    """The ``config=`` markers of every ``tyro.cli`` call of the CLI: options may follow subcommands.

    ``CascadeSubcommandArgs`` (tyro >= 1.0) makes a flag valid after the subcommand selectors that follow its
    own level, so ``lift3d generate "a chair" prior:stable-diffusion --output x`` and ``... --output x
    prior:stable-diffusion`` give the same config. Older tyro lacks it (its ``ConsolidateSubcommandArgs``
    would forbid flags *before* subcommands instead), so there the default, position-sensitive parsing stays.
    """
    import tyro

    cascade = getattr(tyro.conf, "CascadeSubcommandArgs", None)
    return () if cascade is None else (cascade,)


SUBCOMMAND_SELECTOR = re.compile(r"[a-z][a-z0-9_.-]*:[a-z0-9_-]+")
"""A tyro subcommand selector such as ``prior:stable-diffusion`` or ``stage.guidance:vsd``."""


def with_positional(argv: Sequence[str], flag: str) -> list[str]:
    """``argv`` with its positional argument passed to ``flag``: ``"a chair" prior:bundled --seed 1`` ->
    ``--prompt "a chair" prior:bundled --seed 1`` for ``flag="--prompt"``. The positional is the first argument,
    or the first after leading subcommand selectors; ``argv`` is unchanged when it already gives ``flag`` or has
    no such argument (e.g. it starts with an option)."""
    argv = list(argv)
    if any(a == flag or a.startswith(f"{flag}=") for a in argv):
        return argv
    i = 0
    while i < len(argv) and SUBCOMMAND_SELECTOR.fullmatch(argv[i]):
        i += 1
    if i == len(argv) or argv[i].startswith("-"):
        return argv
    return [*argv[:i], flag, argv[i], *argv[i + 1:]]


def parse_args(f: Any, argv: Sequence[str], prog: str, **kwargs: Any) -> Any:
    """``tyro.cli(f, args=argv, prog=prog, **kwargs)`` with :func:`tyro_config` and one-line usage errors.

    ``--help`` prints as usual. A usage error prints ``PROG: error: MESSAGE; 'PROG --help' lists the
    options`` to stderr and raises ``SystemExit(2)``.
    """
    import tyro

    config = (*tuple(kwargs.pop("config", ())), *tyro_config())
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return tyro.cli(f, args=list(argv), prog=prog, config=config, **kwargs)
    except SystemExit as e:
        if e.code not in (0, None) and captured.getvalue().strip():
            print(usage_error_line(prog, captured.getvalue()), file=sys.stderr)
            captured = io.StringIO()  # the line above replaces tyro's message
            raise SystemExit(2) from None
        raise
    finally:
        sys.stderr.write(captured.getvalue())  # warnings, or a message of another shape: passed on as they are


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RULE = re.compile("^[-\u2500]{3,}$")  # a separator inside tyro's error boxes: ─── (UTF-8) or --- (ASCII)


def usage_error_line(prog: str, message: str) -> str:
    """One line for tyro's (boxed, multi-line) usage error ``message``: the problem, a suggestion when tyro
    has one, and where the options are listed."""
    sections = _box_sections(_ANSI.sub("", message))
    if not sections:  # not a box (another tyro version): keep its last line saying "error:", or its first line
        lines = [ln.strip() for ln in _ANSI.sub("", message).splitlines() if ln.strip()]
        said = [ln.split("error:", 1)[1].strip() for ln in lines if "error:" in ln]
        sections = [[said[-1] if said else lines[0] if lines else "invalid arguments"]]
    problem = _clause(_headline(sections[0]))
    for section in sections[1:]:
        if section[0].startswith("Unrecognized"):
            problem += "; " + _clause(_headline(section))
        elif section[0].startswith("Perhaps you meant") and len(section) > 1:
            problem += f" (did you mean {section[1].split()[0]}?)"
    if len(problem) > MAX_MESSAGE_CHARS:
        problem = problem[:MAX_MESSAGE_CHARS - 3] + "..."
    return f"{prog}: error: {problem}; '{prog} --help' lists the options"


def _box_sections(text: str) -> list[list[str]]:
    """The rows of tyro's error box, split at its separators; each row keeps its indentation.

    tyro draws the box with UTF-8 lines (``╭─ Title ─╮``, rows ``│ text │``) when stdout is UTF-8, else in ASCII
    (a `` Title`` line, a ``---`` rule, rows indented by two spaces). Anything else gives no sections.
    """
    lines = [ln.rstrip() for ln in text.splitlines()]
    lines = lines[next((i for i, ln in enumerate(lines) if ln.strip()), len(lines)):]
    if lines and lines[0].startswith("\u256d"):  # ╭
        rows = [ln[2:-1].rstrip() for ln in lines[1:] if ln.startswith("\u2502")]  # │
    elif len(lines) > 1 and _RULE.match(lines[1].strip()):
        rows = [ln[2:] for ln in lines[2:]]
    else:
        return []
    sections: list[list[str]] = [[]]
    for row in rows:
        if _RULE.match(row.strip()):
            sections.append([])
        elif row.strip() or sections[-1]:
            sections[-1].append(row)
    return [s for s in sections if s]


def _clause(rows: list[str]) -> str:
    """``rows`` joined into a clause of our line: lower-case start, no final full stop."""
    text = re.sub(r"^Error parsing (\S+):", r"bad value for \1:", " ".join(rows)).rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _headline(rows: list[str]) -> list[str]:
    """A section's first paragraph without argument helptexts (rows indented deeper than a flag's 4 spaces)."""
    out: list[str] = []
    for row in rows:
        if not row.strip():
            break
        if len(row) - len(row.lstrip()) <= 4:
            out.append(row.strip())
    return out


def log_dirs() -> list[Path]:
    """Where crash logs may go, in order of preference."""
    if os.environ.get(LOG_DIR_ENV):
        return [Path(os.environ[LOG_DIR_ENV]).expanduser()]
    state = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return [Path(state) / "lift3d" / "logs", Path(tempfile.gettempdir()) / "lift3d-logs"]


def write_crash_log(command: str, argv: Sequence[str], error: BaseException) -> Path | None:
    """Write ``error``'s full traceback (with the command line and versions) to a new log file; its path, or
    None when no folder of :func:`log_dirs` is writable."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join([
        f"lift3d {command} failed at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n",
        f"command: {shlex.join(['lift3d', command, *argv])}\n",
        f"lift3d {_version()}, Python {platform.python_version()}, {platform.platform()}\n\n",
        *traceback.format_exception(type(error), error, error.__traceback__),
    ])
    for folder in log_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(100):  # several failures within one second get their own files
                path = folder / f"lift3d-error-{stamp}{f'-{n}' if n else ''}.log"
                try:
                    with path.open("x", encoding="utf-8") as f:
                        f.write(text)
                    return path
                except FileExistsError:
                    continue
        except OSError:
            continue
    return None


def report_crash(command: str, argv: Sequence[str], error: BaseException) -> str:
    """Log an unexpected ``error`` of ``lift3d COMMAND`` (see :func:`write_crash_log`) and return the one line
    the CLI prints for it: the error's type and message, and where the traceback is."""
    message = " ".join(str(error).split())
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS - 3] + "..."
    what = f"{type(error).__name__}: {message}" if message else type(error).__name__
    path = write_crash_log(command, argv, error)
    where = f"full traceback in {path}" if path is not None else "no log could be written"
    if isinstance(error, ModuleNotFoundError) and error.name and not error.name.startswith("lift3d"):
        return f"lift3d {command}: error: {what} (a dependency is missing: install it; {where})"
    return f"lift3d {command}: error: {what} ({where}; please report it)"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lift3d")
    except PackageNotFoundError:
        return "(not installed)"
