"""benchmarks/_child.py: a measurement child that dies stops the benchmark with one clear line, never a hang.

The children really die (SIGKILL sent to themselves, ``os._exit``, exceptions); every wait is guarded by a
subprocess timeout or the helper's own, which is a hang guard, not a timing assertion.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from _child import ChildFailed, ChildTimeout, describe_exit, run_in_child  # noqa: E402

GUARD_S = 120  # generous: a hang is what is being ruled out, not slowness on a loaded machine


def _kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def _exit_3():
    sys.stdout.flush()
    os._exit(3)


def _no_result():
    os._exit(0)


def _raise():
    raise ValueError("broken measurement")


def _orphan_holds_pipe_then_die():
    """A forked grandchild keeps the result pipe open after the child is killed: EOF never comes."""
    if os.fork() == 0:
        time.sleep(3)
        os._exit(0)
    os.kill(os.getpid(), signal.SIGKILL)


def _answer(x):
    return {"value": x * 2, "pid": os.getpid()}


def _run_script(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with benchmarks/ on the path, as a benchmark script would run it."""
    prelude = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=GUARD_S,
                          cwd=ROOT)


def test_sigkilled_spawned_child_exits_with_one_clear_line():
    code = (
        "import os, signal\n"
        "from _child import run_in_child\n"
        "if __name__ == '__main__':\n"
        "    run_in_child(signal.raise_signal, signal.SIGKILL, what='the dense-reference child',\n"
        "                 hint='rerun with --rows 4', script='benchmarks/gaussians.py')\n"
        "    print('not reached')\n"
    )
    proc = _run_script(code)
    assert proc.returncode == 1, proc
    assert "not reached" not in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == (
        "benchmarks/gaussians.py: the dense-reference child was killed by signal 9 (SIGKILL: out of memory?); "
        "rerun with --rows 4"
    )


def test_exit_3_spawned_child_exits_with_one_clear_line():
    code = (
        "import os\n"
        "from _child import run_in_child\n"
        "if __name__ == '__main__':\n"
        "    run_in_child(os._exit, 3, what='the ours child', script='bench')\n"
    )
    proc = _run_script(code)
    assert proc.returncode == 1, proc
    assert proc.stderr.strip().splitlines()[-1] == "bench: the ours child exited with status 3"


@pytest.mark.parametrize(
    ("fn", "expected", "exitcode"),
    [
        (_kill_self, "the child was killed by signal 9 (SIGKILL: out of memory?); rerun smaller", -9),
        (_exit_3, "the child exited with status 3; rerun smaller", 3),
        (_no_result, "the child exited without a result; rerun smaller", 0),
        (_raise, "the child failed with ValueError: broken measurement (traceback above); rerun smaller", 1),
        (_orphan_holds_pipe_then_die, "the child was killed by signal 9 (SIGKILL: out of memory?); rerun smaller", -9),
    ],
    ids=["sigkill", "exit3", "no-result", "exception", "orphan-holds-pipe"],
)
def test_dead_forked_child_raises(fn, expected, exitcode):
    start = time.monotonic()
    with pytest.raises(ChildFailed) as err:
        run_in_child(fn, what="the child", hint="rerun smaller", start_method="fork", script="bench", timeout=GUARD_S)
    assert str(err.value) == f"bench: {expected}"
    assert err.value.exitcode == exitcode
    assert not isinstance(err.value, ChildTimeout)  # found by the exit check, not by the hang guard
    assert time.monotonic() - start < GUARD_S


def test_child_failed_is_a_system_exit_with_the_line_as_message():
    err = ChildFailed("bench: the child exited with status 3", 3)
    assert isinstance(err, SystemExit)
    assert err.code == "bench: the child exited with status 3"


def test_timeout_stops_the_child():
    with pytest.raises(ChildTimeout, match=r"^bench: the sleeper ran past its 1 s timeout and was stopped$"):
        run_in_child(time.sleep, 60, what="the sleeper", timeout=1, script="bench")


def test_result_comes_back_from_a_spawned_child():
    out = run_in_child(_answer, 21, what="the child")
    assert out["value"] == 42 and out["pid"] != os.getpid()


def test_describe_exit():
    assert describe_exit(-15) == "was killed by signal 15 (SIGTERM)"
    assert describe_exit(2) == "exited with status 2"


def test_gaussians_benchmark_tiny_run_last_line():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gaussians.py"), "--counts", "200", "--sizes", "32", "--rows", "4",
         "--repeats", "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any(re.fullmatch(r"peak RSS: parent \d+ MiB, largest child \d+ MiB", line) for line in lines), lines
    assert re.fullmatch(r"gaussians: ours=[\d.]+ peer=[\d.]+ ratio=[\d.]+ max_abs_diff=[\d.e+-]+", lines[-1]), lines
