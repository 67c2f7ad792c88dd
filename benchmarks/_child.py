"""Run one benchmark measurement in a child process, and fail loudly (never hang) when the child dies.

``run_in_child(fn, *args, what="the dense-reference child", hint="rerun with --rows 4")`` calls
``fn(*args)`` in a fresh process and returns its (picklable) result. The result comes back over a pipe
whose write end only the child holds, so a child that dies without answering (killed by the OOM killer
or any signal, ``os._exit``, an exception) ends the wait at once; the exit status is then checked with
``join`` and the parent raises :class:`ChildFailed`, a ``SystemExit`` whose message is one line such as::

    benchmarks/gaussians.py: the dense-reference child was killed by signal 9 (SIGKILL: out of memory?); rerun ...

Uncaught, Python prints that line to stderr and exits with status 1. ``timeout`` stops a child that
runs too long (:class:`ChildTimeout`, a subclass a caller can catch to report a lower bound instead).

:func:`peak_rss_line` reports the peak resident memory of this process and of its largest finished child
(``getrusage``'s ``ru_maxrss``), for the memory notes in the docs.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

_POLL_S = 0.2


class ChildFailed(SystemExit):
    """A measurement child died, exited non-zero, raised, or returned nothing. ``str(err)`` is one line."""

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.message, self.exitcode = message, exitcode

    def __str__(self) -> str:
        return self.message


class ChildTimeout(ChildFailed):
    """The child ran past ``timeout`` seconds and was stopped."""


def script_name() -> str:
    """``benchmarks/<script>.py`` as the user ran it (relative to the current directory when possible)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "benchmark")
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    return path if rel.startswith("..") else rel


def describe_exit(exitcode: int | None) -> str:
    """How a child ended, from ``Process.exitcode`` (negative: killed by that signal)."""
    if exitcode is None:
        return "did not finish"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        why = ": out of memory?" if -exitcode == signal.SIGKILL else ""
        return f"was killed by signal {-exitcode} ({name}{why})"
    return f"exited with status {exitcode}"


def _trampoline(conn, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """Child side: send ``("ok", result)`` or ``("error", one-line summary)``; exit 1 after an error."""
    try:
        result = fn(*args, **kwargs)
    except BaseException as err:  # reported to the parent, then the child exits non-zero
        traceback.print_exc()
        sys.stderr.flush()
        summary = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()
        try:
            conn.send(("error", summary[-1] if summary else type(err).__name__))
        finally:
            conn.close()
        os._exit(1)
    conn.send(("ok", result))
    conn.close()


def run_in_child(
    fn: Callable[..., Any],
    *args: Any,
    what: str = "the child process",
    hint: str = "",
    timeout: float | None = None,
    start_method: str = "spawn",
    script: str | None = None,
    **kwargs: Any,
) -> Any:
    """``fn(*args, **kwargs)`` in a fresh ``start_method`` process; its result, or :class:`ChildFailed`.

    ``fn`` (and, with ``spawn``, the arguments) must be picklable: a module-level function. ``what`` names
    the child in the error (``"the dense-reference child"``), ``hint`` is appended to it (``"rerun with
    --rows 4"``). The error is raised for: a signal (``-9`` -> "killed by signal 9 (SIGKILL: out of
    memory?)"), a non-zero exit, an exception in ``fn`` (its traceback is printed by the child first), a
    zero exit without a result, and, with ``timeout``, running past it (:class:`ChildTimeout`).
    """
    ctx = multiprocessing.get_context(start_method)
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_trampoline, args=(send, fn, args, kwargs), daemon=False)
    deadline = None if timeout is None else time.monotonic() + timeout
    proc.start()
    send.close()  # only the child holds the write end now: its death is EOF here
    message = None
    try:
        while True:
            if recv.poll(_POLL_S):
                try:
                    message = recv.recv()
                except (EOFError, OSError):
                    message = None
                break
            if not proc.is_alive():
                if recv.poll(0):  # it answered just before exiting
                    continue
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.terminate()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                proc.join()
                raise ChildTimeout(_line(script, f"{what} ran past its {timeout:g} s timeout and was stopped", hint))
        proc.join(60)
        if proc.is_alive():  # answered (or closed the pipe) but will not exit
            proc.kill()
            proc.join()
            raise ChildFailed(_line(script, f"{what} did not exit within 60 s of closing its pipe", hint))
    finally:
        recv.close()
        if proc.is_alive():  # KeyboardInterrupt or another error while waiting: do not leave it running
            proc.kill()
            proc.join()
    code = proc.exitcode
    if message is not None and message[0] == "error":
        raise ChildFailed(_line(script, f"{what} failed with {message[1]} (traceback above)", hint), code)
    if code != 0:
        raise ChildFailed(_line(script, f"{what} {describe_exit(code)}", hint), code)
    if message is None:
        raise ChildFailed(_line(script, f"{what} exited without a result", hint), code)
    return message[1]


def _line(script: str | None, text: str, hint: str) -> str:
    return f"{script or script_name()}: {text}" + (f"; {hint}" if hint else "")


def peak_rss_mb() -> tuple[float, float]:
    """Peak RSS in MiB of this process and of its largest finished (waited-for) child process."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def peak_rss_line() -> str:
    """One line for the log: ``peak RSS: parent <MiB>, largest child <MiB>`` (no child part without children)."""
    own, children = peak_rss_mb()
    if children == 0:
        return f"peak RSS: {own:.0f} MiB (one process)"
    return f"peak RSS: parent {own:.0f} MiB, largest child {children:.0f} MiB"
