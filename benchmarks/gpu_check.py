#!/usr/bin/env python3
"""One-shot GPU check: CUDA-backend tests, renderer timings, end-to-end CLI runs and cached priors, in ~8 minutes.

Written for one CUDA GPU (an H100/H200 with 16 cores) on a machine that starts bare: the repository copy and a
``python3``, nothing else. From the repository root, one command installs and checks::

    python3 benchmarks/gpu_check.py --install

which does the same as::

    python3 -m venv .venv-gpu && .venv-gpu/bin/pip install -e ".[dev]" && .venv-gpu/bin/python benchmarks/gpu_check.py

(``--install`` also tries ``pip install ninja`` and ``pip install nvdiffrast`` and records what failed). The
default torch wheel on PyPI is a CUDA build. gsplat 1.5.3 and nerfacc 0.5.3 compile their CUDA kernels on
first use (needs ``nvcc`` from a CUDA toolkit, and ninja); the ``compile`` section does it once and reports
the compile time (torch caches the builds in ``~/.cache/torch_extensions``, so a second run only loads them).
nvdiffrast is optional (its repository is the usual source, unreachable without internet): when it does not
import, the mesh timings compare our rasterizer on CUDA only and its ``gpu`` tests skip.

Sections (``--sections a,b`` picks some; ``env`` always runs first):

* ``env``: versions (python, torch, CUDA, GPU, driver, gsplat, nerfacc, nvdiffrast), nvcc and ninja.
* ``compile``: JIT-compiles (or loads) gsplat's and nerfacc's CUDA kernels in parallel; seconds per library.
* ``tests``: ``pytest -m gpu`` (the CUDA backends against the torch oracles); pass/fail/skip counts.
* ``bench-gaussians``: gsplat (backend ``cuda``) with 1M Gaussians at 1920x1080, forward and forward +
  backward; both backends at 100k Gaussians, 960x540 (speed ratio and max pixel difference); the torch
  backend's full-size time extrapolated linearly in Gaussians x pixels (labelled as an estimate).
* ``bench-volume``: one 512x512 view of a baked density grid, 128 samples per ray: torch (no skipping),
  torch with occupancy skipping, nerfacc's CUDA marcher.
* ``bench-mesh``: a ~500k-face sphere at 1024x1024: visibility and full render (forward, forward + backward)
  with our binned rasterizer and, when importable, nvdiffrast.
* ``generate``: ``lift3d generate "a red cube"`` (default preset, bundled models) through the CLI on CUDA.
* ``reconstruct``: ``lift3d reconstruct`` of a procedural red-cube image through the CLI on CUDA.
* ``priors``: for each pretrained prior lift3d knows that is in the Hugging Face cache, one guidance step
  (SDS, backward included) and a 50-step ``generate`` (``reconstruct`` refine for Zero123-family priors);
  absent weights are ``skipped: not in cache``. Nothing is downloaded (``HF_HUB_OFFLINE=1``).

Every section runs in its own process group with its own timeout: a crash or a hang in one does not stop the
others. ``--budget-s`` (default 460, counted from the start, install included) skips the sections that no
longer fit. Logs and run folders go to ``--workdir`` (default: a new temporary folder).

Output: progress on stderr, then ONE JSON line on stdout (the last line), also written to ``--out`` (default
``gpu_check.json``): per-section status (passed, failed, timeout, skipped) with reasons and timings, versions
and total wall time. Exit status 0 when everything that ran passed, 1 when a section failed or timed out, the
install failed, or there is no CUDA (one line on stderr says so; every CUDA section is ``skipped: no CUDA``),
2 for usage errors. ``--dry-run`` prints the plan (commands, timeouts, which cached priors would run) and runs
nothing; it needs neither torch nor a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
BENCHMARKS = SCRIPT.parent
REPO = BENCHMARKS.parent
PROG = "gpu_check.py"
PROMPT = "a red cube"
DEFAULT_BUDGET_S = 460.0
DEFAULT_VENV = ".venv-gpu"
NO_CUDA = "no CUDA"
SCHEMA = 1

GAUSSIANS_FULL = (1_000_000, 1920, 1080)
"""Gaussians, width, height of the gsplat timing."""
GAUSSIANS_SMALL = (100_000, 960, 540)
"""The size both backends are timed at (the torch backend's full-size time is extrapolated from it)."""
VOLUME_SIZE, VOLUME_SAMPLES = 512, 128
MESH_FACES, MESH_SIZE = 500_000, 1024
REPEATS = 3
PRIOR_STEPS = 50
PRIOR_RESOLUTION = 64


@dataclass(frozen=True)
class Section:
    """One part of the check: run in its own process with ``timeout_s``; not started with under ``min_s`` left."""

    name: str
    summary: str
    timeout_s: float
    min_s: float
    needs_cuda: bool = True


SECTIONS: tuple[Section, ...] = (
    Section("env", "versions: python, torch, CUDA, GPU, driver, gsplat, nerfacc, nvdiffrast; nvcc, ninja", 90, 5,
            needs_cuda=False),
    Section("compile", "JIT-compile (or load) gsplat and nerfacc CUDA kernels in parallel, timed", 240, 20),
    Section("tests", "pytest -m gpu: gsplat, nerfacc and nvdiffrast backends against the torch oracles", 150, 20),
    Section("bench-gaussians", "gsplat 1M Gaussians at 1920x1080; cuda vs torch backend at 100k, 960x540", 90, 15),
    Section("bench-volume", "volume renders 512x512: torch, torch + occupancy skipping, nerfacc marcher", 60, 10),
    Section("bench-mesh", "~500k-face mesh at 1024x1024: our rasterizer vs nvdiffrast (when importable)", 90, 15),
    Section("generate", f'lift3d generate "{PROMPT}" (default preset, bundled models) via the CLI on CUDA', 150, 40),
    Section("reconstruct", "lift3d reconstruct of a procedural red-cube image via the CLI on CUDA", 100, 30),
    Section("priors", f"cached pretrained priors: one guidance step and a {PRIOR_STEPS}-step generate each", 240, 30),
)
SECTION_NAMES: tuple[str, ...] = tuple(s.name for s in SECTIONS)


@dataclass(frozen=True)
class KnownPrior:
    """A pretrained prior lift3d can load: its hub id and how (``stable-diffusion``, ``deepfloyd-if``,
    ``mvdream``: text priors of ``lift3d generate``; ``zero123``: image priors of ``lift3d reconstruct``;
    ``checkpoint``: a single-file repo lift3d does not load)."""

    repo: str
    kind: str


KNOWN_PRIORS: tuple[KnownPrior, ...] = (
    KnownPrior("stabilityai/stable-diffusion-2-1-base", "stable-diffusion"),
    KnownPrior("stabilityai/stable-diffusion-2-1", "stable-diffusion"),
    KnownPrior("runwayml/stable-diffusion-v1-5", "stable-diffusion"),
    KnownPrior("DeepFloyd/IF-I-XL-v1.0", "deepfloyd-if"),
    KnownPrior("ashawkey/mvdream-sd2.1-diffusers", "mvdream"),
    KnownPrior("ashawkey/zero123-xl-diffusers", "zero123"),
    KnownPrior("kxic/zero123-xl", "zero123"),
    KnownPrior("bennyguo/zero123-xl-diffusers", "zero123"),
    KnownPrior("ashawkey/stable-zero123-diffusers", "zero123"),
    KnownPrior("stabilityai/stable-zero123", "checkpoint"),
)


class UsageError(Exception):
    """A bad command line; reported as one line, exit status 2."""


# ----------------------------------------------------------------------------------------------- HF cache


def hub_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face hub cache lift3d reads (same rule as ``lift3d.priors.hub.hub_cache_dir``, without torch):
    ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    return Path(env.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))).expanduser() / "hub"


def _nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def cached_snapshot(repo: str, cache: Path) -> Path | None:
    """The snapshot folder of ``repo`` in the hub cache (``models--org--name/snapshots/<rev>``), or None.

    The revision ``refs/main`` names wins; else the newest non-empty snapshot.
    """
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshots = root / "snapshots"
    ref = root / "refs" / "main"
    if ref.is_file():
        named = snapshots / ref.read_text().strip()
        if _nonempty_dir(named):
            return named
    if not snapshots.is_dir():
        return None
    found = [p for p in snapshots.iterdir() if _nonempty_dir(p)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def detect_priors(cache: Path) -> list[dict[str, Any]]:
    """Every :data:`KNOWN_PRIORS` entry with ``present`` and its ``snapshot`` path (None when absent)."""
    out = []
    for prior in KNOWN_PRIORS:
        snap = cached_snapshot(prior.repo, cache)
        out.append({"repo": prior.repo, "kind": prior.kind, "present": snap is not None,
                    "snapshot": None if snap is None else str(snap)})
    return out


def other_cached_repos(cache: Path) -> list[str]:
    """Model repos in the cache that lift3d does not know as priors (listed, not run)."""
    if not cache.is_dir():
        return []
    known = {p.repo for p in KNOWN_PRIORS}
    repos = [p.name[len("models--"):].replace("--", "/", 1) for p in cache.glob("models--*") if p.is_dir()]
    return sorted(r for r in repos if r not in known)


# ------------------------------------------------------------------------------------------- budget, plan


def section_limit(section: Section, remaining_s: float) -> float | None:
    """The timeout ``section`` runs under with ``remaining_s`` of the budget left, or None when it no longer fits."""
    if remaining_s < section.min_s:
        return None
    return min(section.timeout_s, remaining_s)


def select_sections(text: str) -> list[Section]:
    """Sections named in ``text`` (comma-separated, or ``all``), in run order, ``env`` always first.

    Raises:
        UsageError: an unknown or empty name.
    """
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise UsageError(f"--sections needs comma-separated names from: {', '.join(SECTION_NAMES)} (or all)")
    unknown = [n for n in names if n != "all" and n not in SECTION_NAMES]
    if unknown:
        raise UsageError(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTION_NAMES)} (comma-separated) "
                         "or all")
    wanted = set(SECTION_NAMES) if "all" in names else {"env", *names}
    return [s for s in SECTIONS if s.name in wanted]


def skipped(reason: str) -> dict[str, Any]:
    """A section (or prior) result that did not run."""
    return {"status": "skipped", "reason": reason}


def cuda_missing(env_result: Mapping[str, Any] | None) -> str | None:
    """Why CUDA sections cannot run (a reason starting with "no CUDA"), or None when the env probe found a GPU."""
    if env_result is None:
        return f"{NO_CUDA}: the environment probe did not run"
    if env_result.get("status") != "passed":
        why = env_result.get("reason", env_result.get("status"))
        return f"{NO_CUDA}: the environment probe failed ({why}); install with --install or pip install -e \".[dev]\""
    if not env_result.get("cuda_available"):
        return (f"{NO_CUDA}: torch {env_result.get('torch')} reports torch.cuda.is_available() False "
                f"(torch CUDA build: {env_result.get('torch_cuda')})")
    return None


Runner = Callable[[Section, float], dict[str, Any]]


def run_plan(sections: Sequence[Section], budget_s: float, start: float, runner: Runner,
             clock: Callable[[], float] = time.monotonic,
             report: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run ``sections`` in order with ``runner(section, timeout_s)``; returns their results by name.

    CUDA sections are skipped ("no CUDA: ...") unless ``env`` ran and found CUDA; any section is skipped when the
    budget left (``budget_s`` minus the time since ``start`` on ``clock``) is under its ``min_s``.
    """
    results: dict[str, dict[str, Any]] = {}
    no_cuda = cuda_missing(None)
    for section in sections:
        remaining = budget_s - (clock() - start)
        limit = section_limit(section, remaining)
        if section.needs_cuda and no_cuda:
            result = skipped(no_cuda)
        elif limit is None:
            result = skipped(f"budget: {max(remaining, 0):.0f} s left of {budget_s:.0f} s, the section needs at "
                             f"least {section.min_s:.0f} s (raise --budget-s or pick --sections)")
        else:
            result = runner(section, limit)
        results[section.name] = result
        if section.name == "env":
            no_cuda = cuda_missing(result)
        if report is not None:
            report(section.name, result)
    return results


# ----------------------------------------------------------------------------------------- processes


def _kill_group(pid: int, leader: subprocess.Popen | None = None) -> None:
    """Stop the process group led by ``pid`` (ours, started with a new session): TERM, then KILL after 5 s.

    ``leader`` (the Popen of ``pid``) is reaped meanwhile: as a zombie it would keep the group alive.
    """
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if leader is not None:
                leader.poll()
            try:
                os.killpg(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def run_logged(cmd: Sequence[str], timeout_s: float, log: Path, env: Mapping[str, str] | None = None,
               cwd: Path = REPO, new_session: bool = True) -> tuple[int | None, bool]:
    """Run ``cmd`` with stdout and stderr appended to ``log``; returns ``(exit status, timed out)``.

    ``new_session``: the command leads its own process group, stopped as a whole on timeout (the parent's
    sections); otherwise only the process is stopped (commands inside a section, whose group the parent owns).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n".encode())
        out.flush()
        proc = subprocess.Popen(list(map(str, cmd)), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env=None if env is None else dict(env), start_new_session=new_session)
        try:
            code = proc.wait(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:
            _stop(proc, new_session)
            raise
        if code is None:
            _stop(proc, new_session)
            return None, True
        if new_session:
            _kill_group(proc.pid)  # leftovers of a finished section (e.g. compile workers)
        return code, False


def _stop(proc: subprocess.Popen, group: bool) -> None:
    if group:
        _kill_group(proc.pid, proc)
    else:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def last_line(log: Path, limit: int = 300) -> str:
    """The last non-empty line of ``log`` (for one-line failure reasons)."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def run_child(python: str, task: str, timeout_s: float, workdir: Path, env: Mapping[str, str],
              args: Mapping[str, Any] | None = None, name: str | None = None,
              new_session: bool = True) -> dict[str, Any]:
    """Run ``task`` of this script (``--child``) under ``python`` with a timeout; its result dict, never raises.

    The child writes its result as JSON (benchmarks also write their finished cases as they go, so a timeout
    keeps them); a timeout, a crash or a missing result becomes ``timeout`` / ``failed`` with a one-line reason.
    """
    name = name or task
    out, log = workdir / f"{name}.json", workdir / f"{name}.log"
    out.unlink(missing_ok=True)
    payload = {"workdir": str(workdir), "deadline": time.time() + timeout_s, "result_path": str(out), **(args or {})}
    cmd = [python, str(SCRIPT), "--child", task, "--child-out", str(out), "--child-args", json.dumps(payload)]
    t0 = time.monotonic()
    try:
        code, timed_out = run_logged(cmd, timeout_s, log, env, new_session=new_session)
    except OSError as e:  # the interpreter is missing or not executable
        code, timed_out = None, False
        log.write_text(f"{type(e).__name__}: {e}\n")
    wall = round(time.monotonic() - t0, 2)
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {}
    if timed_out:
        result = {**result, "status": "timeout", "reason": f"ran past its {timeout_s:.0f} s timeout and was stopped "
                                                            f"(last log line: {last_line(log)!r})"}
    elif not result or result.get("status") == "partial":
        result = {**result, "status": "failed",
                  "reason": f"exited with status {code} without a (final) result: {last_line(log)!r}"}
    return {**result, "wall_s": wall, "timeout_s": round(timeout_s, 1), "log": str(log)}


def child_environ(base: Mapping[str, str], env_result: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Environment of the section processes: offline hub, unbuffered output, JIT build settings (all cores,
    only this GPU's architecture), and a CUDA toolkit in /usr/local/cuda put on PATH when nvcc is not."""
    env = dict(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
    toolkit = Path("/usr/local/cuda/bin/nvcc")
    if shutil.which("nvcc", path=env.get("PATH")) is None and toolkit.exists():
        env["PATH"] = f"{toolkit.parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("CUDA_HOME", str(toolkit.parent.parent))
    if env_result and env_result.get("capability"):
        env.setdefault("TORCH_CUDA_ARCH_LIST", str(env_result["capability"]))
    return env


# ------------------------------------------------------------------------------------------------ install


@dataclass(frozen=True)
class InstallStep:
    """One install command; a failed ``required`` step stops the check."""

    name: str
    cmd: tuple[str, ...]
    required: bool
    timeout_s: float


def install_steps(venv: Path, python: str) -> list[InstallStep]:
    """The ``--install`` commands: a venv, lift3d with its dev extras, then the optional ninja and nvdiffrast."""
    vpy = str(venv / "bin" / "python")
    pip = (vpy, "-m", "pip", "install", "--disable-pip-version-check")
    return [
        InstallStep("venv", (python, "-m", "venv", str(venv)), True, 120),
        InstallStep("lift3d", (*pip, "-e", ".[dev]"), True, 420),
        InstallStep("ninja", (*pip, "ninja"), False, 90),
        InstallStep("nvdiffrast", (*pip, "nvdiffrast"), False, 120),
    ]


def run_install(venv: Path, python: str, workdir: Path, deadline: float) -> dict[str, Any]:
    """Run :func:`install_steps` (skipping the venv when it exists); per-step status, seconds and log line."""
    steps: dict[str, Any] = {}
    status = "passed"
    for step in install_steps(venv, python):
        if step.name == "venv" and (venv / "bin" / "python").exists():
            steps[step.name] = {"status": "skipped", "reason": f"{venv} exists"}
            continue
        left = deadline - time.monotonic()
        if left < 5:
            if step.required:
                steps[step.name] = {"status": "failed", "reason": "budget exhausted before this step"}
                status = "failed"
                break
            steps[step.name] = skipped("budget exhausted")
            continue
        log = workdir / f"install-{step.name}.log"
        t0 = time.monotonic()
        code, timed_out = run_logged(step.cmd, min(step.timeout_s, left), log)
        ok = code == 0 and not timed_out
        steps[step.name] = {"status": "passed" if ok else ("timeout" if timed_out else "failed"),
                            "wall_s": round(time.monotonic() - t0, 1), "log": str(log)}
        if not ok:
            steps[step.name]["reason"] = last_line(log) or f"exit status {code}"
            if step.required:
                status = "failed"
                break
    failed = [f"{k}: {v.get('reason', v['status'])}" for k, v in steps.items() if v["status"] in ("failed", "timeout")]
    out = {"status": status, "venv": str(venv), "steps": steps}
    return {**out, "reason": "; ".join(failed)} if failed else out


# --------------------------------------------------------------------------------------- CLI commands


def lift3d_cli(python: str, *args: str) -> list[str]:
    """The real command line: ``python -m lift3d.cli ARGS``."""
    return [python, "-m", "lift3d.cli", *args]


def generate_argv(output: Path, device: str = "cuda") -> list[str]:
    """``lift3d generate "a red cube"`` with the default preset and bundled models."""
    return ["generate", PROMPT, "--output", str(output), "--overwrite", "--device", device, "--quiet"]


def reconstruct_argv(image: Path, output: Path, device: str = "cuda") -> list[str]:
    """``lift3d reconstruct IMAGE`` with the defaults (feedforward + refine, bundled models)."""
    return ["reconstruct", str(image), "--output", str(output), "--overwrite", "--device", device, "--quiet"]


def prior_run_argv(kind: str, repo: str, image: Path, output: Path, steps: int = PRIOR_STEPS,
                   device: str = "cuda") -> list[str]:
    """A ``steps``-step run with a pretrained prior: ``generate`` (dreamfusion preset, one stage, 64 px renders)
    for text priors, ``reconstruct`` (feedforward + ``steps`` refine steps) for Zero123-family priors."""
    common = ["--output", str(output), "--overwrite", "--device", device, "--quiet", "--turntable-frames", "0"]
    if kind == "zero123":
        return ["reconstruct", str(image), "--mode", "feedforward+refine", "--refine.steps", str(steps), *common,
                "prior:novel-view", "--prior.model", repo]
    return ["generate", PROMPT, "--preset", "dreamfusion", "--stage.steps", str(steps), "--stage.resolution",
            str(PRIOR_RESOLUTION), *common, f"prior:{kind}", "--prior.model", repo]


def pytest_argv(python: str, junit: Path) -> list[str]:
    """Every test marked ``gpu``, serially, with a JUnit XML report."""
    return [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "tests"]


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts (tests, passed, failed, errors, skipped), the failures (test and first message line, at most 20)
    and the distinct skip reasons of a pytest JUnit XML report."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    counts = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[dict[str, str]] = []
    skips: set[str] = set()
    for case in root.iter("testcase"):
        counts["tests"] += 1
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
        elif outcome.tag == "skipped":
            counts["skipped"] += 1
            skips.add((outcome.get("message") or "").strip()[:200])
        else:
            counts["failed" if outcome.tag == "failure" else "errors"] += 1
            message = (outcome.get("message") or outcome.text or "").strip().splitlines()
            failures.append({"test": test, "message": message[0][:300] if message else ""})
    return {**counts, "failures": failures[:20], "skip_reasons": sorted(skips)[:10]}


# ------------------------------------------------------------------------------- measurements (children)


def load_benchmark(name: str) -> Any:
    """Import ``benchmarks/<name>.py`` (whose helpers import ``_child`` from this folder) as a module."""
    module_name = f"_gpu_check_bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _median_time(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after one warm-up, synchronising the device each time."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_forward_backward(forward: Callable[[], Any], forward_backward: Callable[[], Any], device: str,
                          repeats: int) -> dict[str, Any]:
    """``forward_s`` and ``forward_backward_s`` (medians) and the CUDA ``peak_gib`` allocated meanwhile."""
    import torch

    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    out = {"forward_s": round(_median_time(forward, repeats, sync), 5),
           "forward_backward_s": round(_median_time(forward_backward, repeats, sync), 5)}
    out["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None
    return out


def _guarded(fn: Callable[[], tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Any]:
    """``fn()``; an exception (e.g. CUDA out of memory) becomes ``{"status": "failed", "reason": ...}``."""
    try:
        record, extra = fn()
        return {"status": "passed", **record}, extra
    except Exception as e:  # noqa: BLE001 - one failed case must not lose the others
        traceback.print_exc()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
        return {"status": "failed", "reason": one_line(e)}, None


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


Progress = Callable[[dict[str, Any]], None] | None
"""Called with the cases finished so far (the section child writes them to its result file)."""


def _report(progress: Progress, cases: Mapping[str, Any]) -> None:
    if progress is not None:
        progress({"status": "partial", "cases": dict(cases)})


def _status_of(cases: Mapping[str, Mapping[str, Any]]) -> str:
    return "passed" if cases and all(c.get("status") == "passed" for c in cases.values()) else "failed"


def gaussian_case(backend: str, n: int, width: int, height: int, device: str,
                  repeats: int) -> tuple[dict[str, Any], Any]:
    """Time one Gaussian render (scene from ``benchmarks/gaussians.py``: SH degree 3, varied scales and
    opacities, camera at distance 3); returns the record and the forward image on the CPU."""
    import torch

    from lift3d.cameras import Cameras
    from lift3d.renderers import GaussianRenderer, GaussianRendererConfig

    scene, _ = load_benchmark("gaussians")._scene_and_camera(n, 8)
    scene = scene.to(device)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([3.0]), 50.0,
                                  width, height).to(device)
    render = GaussianRenderer(GaussianRendererConfig(backend=backend))

    def forward() -> Any:
        with torch.no_grad():
            return render(scene, cams).rgb

    def forward_backward() -> None:
        scene.zero_grad(set_to_none=True)
        render(scene, cams).rgb.sum().backward()

    record = {"backend": backend, "gaussians": n, "width": width, "height": height, "device": device,
              **time_forward_backward(forward, forward_backward, device, repeats)}
    return record, forward().float().cpu()


def bench_gaussians(device: str = "cuda", backends: Sequence[str] = ("cuda", "torch"),
                    full: tuple[int, int, int] = GAUSSIANS_FULL, small: tuple[int, int, int] = GAUSSIANS_SMALL,
                    repeats: int = REPEATS, progress: Progress = None) -> dict[str, Any]:
    """Gaussian renderer: the cuda backend at ``full`` size; every backend at ``small`` size (ratio, max pixel
    difference); the torch backend at ``full`` size extrapolated linearly in Gaussians x pixels."""
    cases: dict[str, dict[str, Any]] = {}
    images: dict[str, Any] = {}
    if "cuda" in backends:
        cases["cuda_full"], _ = _guarded(lambda: gaussian_case("cuda", *full, device, repeats))
        _report(progress, cases)
    for backend in backends:
        cases[f"{backend}_small"], images[backend] = _guarded(
            lambda b=backend: gaussian_case(b, *small, device, repeats))
        _report(progress, cases)
    result: dict[str, Any] = {"status": _status_of(cases), "cases": cases}
    if images.get("cuda") is not None and images.get("torch") is not None:
        result["max_abs_diff_small"] = float((images["cuda"] - images["torch"]).abs().max())
    torch_small, cuda_small = cases.get("torch_small", {}), cases.get("cuda_small", {})
    if torch_small.get("status") == "passed":
        scale = (full[0] * full[1] * full[2]) / (small[0] * small[1] * small[2])
        result["torch_full_estimate"] = {
            "forward_s": round(torch_small["forward_s"] * scale, 3),
            "forward_backward_s": round(torch_small["forward_backward_s"] * scale, 3),
            "note": f"ESTIMATE, not measured: the torch backend's time at {small[0]} Gaussians, {small[1]}x{small[2]} "
                    f"times {scale:g} (Gaussians x pixels, linear extrapolation) to {full[0]} at {full[1]}x{full[2]}",
        }
        if cuda_small.get("status") == "passed":
            result["torch_over_cuda_small"] = {
                k: round(torch_small[k] / max(cuda_small[k], 1e-9), 2) for k in ("forward_s", "forward_backward_s")}
    return result


def bench_volume(device: str = "cuda", size: int = VOLUME_SIZE, samples: int = VOLUME_SAMPLES,
                 repeats: int = REPEATS, cuda_marcher: bool = True, progress: Progress = None) -> dict[str, Any]:
    """Volume renderer on a density grid baked from a procedural mushroom (``benchmarks/volume.py``), one
    ``size``-squared view: torch, torch with occupancy skipping and (``cuda_marcher``) nerfacc's CUDA marcher."""
    import torch

    from lift3d.cameras import Cameras
    from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig

    grid = load_benchmark("volume").baked_grid("mushroom", 64).to(device)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.4]), 40.0,
                                  size).to(device)
    plain = VolumeRenderer(VolumeRendererConfig(num_samples=samples, backend="torch"))
    skip = VolumeRenderer(VolumeRendererConfig(num_samples=samples, occupancy=True, occupancy_resolution=64,
                                               backend="torch"))
    skip.update_occupancy(grid, torch.Generator(device=device).manual_seed(0), samples_per_cell=2)
    renderers = {"torch": plain, "torch_occupancy": skip}
    if cuda_marcher:
        renderers["cuda_nerfacc"] = VolumeRenderer(VolumeRendererConfig(
            num_samples=samples, occupancy=True, occupancy_resolution=64, backend="cuda"))
        renderers["cuda_nerfacc"].occupancy_grid = skip.occupancy_grid
    with torch.no_grad():
        reference = plain(grid, cams).rgb
    rays = size * size

    def case(renderer: Any) -> tuple[dict[str, Any], None]:
        def forward() -> Any:
            with torch.no_grad():
                return renderer(grid, cams)

        def forward_backward() -> None:
            grid.zero_grad(set_to_none=True)
            renderer(grid, cams).rgb.sum().backward()

        out = forward()
        record = time_forward_backward(forward, forward_backward, device, repeats)
        record.update(field_samples=int(out.aux["num_samples"]), max_abs_diff=float((out.rgb - reference).abs().max()),
                      rays_per_s=round(rays / max(record["forward_s"], 1e-9)))
        return record, None

    cases: dict[str, dict[str, Any]] = {}
    for name, r in renderers.items():
        cases[name] = _guarded(lambda r=r: case(r))[0]
        _report(progress, cases)
    return {"status": _status_of(cases), "width": size, "height": size, "samples_per_ray": samples, "device": device,
            "cases": cases}


def bench_mesh(device: str = "cuda", faces: int = MESH_FACES, size: int = MESH_SIZE,
               repeats: int = REPEATS, progress: Progress = None) -> dict[str, Any]:
    """Mesh renderer on a uv sphere (``benchmarks/mesh_raster.py``): visibility alone and the full differentiable
    render, with our binned rasterizer and, on CUDA when importable, nvdiffrast; plus their face-id agreement."""
    import torch

    from lift3d.cameras import Cameras
    from lift3d.renderers._mesh_nvdiffrast import nvdiffrast_available, rasterize_nvdiffrast
    from lift3d.renderers._mesh_raster import rasterize
    from lift3d.renderers.mesh import MeshRendererConfig, render_mesh
    from lift3d.scenes.mesh import face_neighbors

    vertices, tris = load_benchmark("mesh_raster")._sphere(faces)
    vertices, tris = vertices.to(device), tris.to(device)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.6]), 50.0,
                                  size).to(device)
    neighbors = face_neighbors(tris)
    colors = torch.rand(vertices.shape, generator=torch.Generator().manual_seed(0)).to(device)
    pix, z = cams.project(vertices)
    use_nv = device.startswith("cuda") and nvdiffrast_available()
    near = MeshRendererConfig().near
    backends: dict[str, tuple[Callable[[], Any], MeshRendererConfig]] = {
        "ours": (lambda: rasterize(pix, z, tris, size, size), MeshRendererConfig(backend="torch"))}
    if use_nv:
        backends["nvdiffrast"] = (lambda: rasterize_nvdiffrast(pix, z, tris, size, size, near),
                                  MeshRendererConfig(backend="cuda"))
    leaf = vertices.clone().requires_grad_(True)

    def case(visibility: Callable[[], Any], cfg: MeshRendererConfig) -> tuple[dict[str, Any], Any]:
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        with torch.no_grad():
            vis_s = _median_time(visibility, repeats, sync)
            ids = visibility()

        def forward() -> Any:
            with torch.no_grad():
                return render_mesh(leaf, tris, cams, colors=colors, config=cfg, neighbors=neighbors)

        def forward_backward() -> None:
            leaf.grad = None
            render_mesh(leaf, tris, cams, colors=colors, config=cfg, neighbors=neighbors).rgb.sum().backward()

        record = {"visibility_s": round(vis_s, 5), **time_forward_backward(forward, forward_backward, device, repeats)}
        return record, ids

    cases, ids = {}, {}
    for name, (visibility, cfg) in backends.items():
        cases[name], ids[name] = _guarded(lambda v=visibility, c=cfg: case(v, c))
        _report(progress, cases)
    result: dict[str, Any] = {"status": _status_of(cases), "faces": int(tris.shape[0]), "width": size,
                              "height": size, "device": device, "cases": cases,
                              "nvdiffrast": "used" if use_nv else "not importable: timed our rasterizer only"}
    if ids.get("ours") is not None and ids.get("nvdiffrast") is not None:
        result["face_id_agreement"] = round(float((ids["ours"] == ids["nvdiffrast"]).float().mean()), 6)
    return result


def make_input_image(path: Path, resolution: int = 128) -> Path:
    """A procedural red cube seen from the canonical input camera, saved as an RGBA PNG (as the recon tests)."""
    import numpy as np
    import torch
    from PIL import Image

    from lift3d.data import procedural_object, render_object
    from lift3d.recon.camera import input_camera

    out = render_object(procedural_object("cube", "red", seed=1), input_camera(resolution))
    rgba = torch.cat([out.rgb[0], out.alpha[0]], -1).clamp(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rgba.numpy() * 255).round().astype(np.uint8), "RGBA").save(path)
    return path


def prior_guidance_step(kind: str, model: str, device: str, resolution: int = PRIOR_RESOLUTION,
                        views: int = 4) -> dict[str, Any]:
    """Load a prior and time SDS guidance steps (loss and backward) on ``views`` random renders.

    ``kind``: ``stable-diffusion``, ``deepfloyd-if``, ``mvdream`` (text; generate's default SDS), ``bundled``
    (lift3d's text prior, ``model`` ignored), ``zero123`` (image-conditioned on a procedural cube, reconstruct's
    refine SDS; an empty ``model`` is the bundled novel-view prior).
    """
    import torch

    from lift3d.cameras import Cameras

    t0 = time.perf_counter()
    if kind == "zero123":
        from lift3d.data import procedural_object, render_object
        from lift3d.pipelines.prior_specs import NovelViewPriorSpec, ReferenceConditions
        from lift3d.pipelines.reconstruct import REFINE
        from lift3d.priors.zero123 import ReferenceView
        from lift3d.recon.camera import input_camera

        prior = NovelViewPriorSpec(model=model).build(torch.device(device))
        ref_out = render_object(procedural_object("cube", "red", seed=1), input_camera(resolution))
        reference = torch.cat([ref_out.rgb[0], ref_out.alpha[0]], -1).to(device)
        conditions = ReferenceConditions(prior, reference[None], ReferenceView.from_camera(input_camera(resolution)))
        guidance_cfg = REFINE.guidance
    else:
        from lift3d.pipelines.generate import StageConfig
        from lift3d.pipelines.prior_specs import BundledPriorSpec
        from lift3d.priors.deepfloyd import DeepFloydIFConfig
        from lift3d.priors.mvdream import MVDreamConfig
        from lift3d.priors.prompts import PromptEmbeddings
        from lift3d.priors.stable_diffusion import StableDiffusionConfig

        specs = {"stable-diffusion": StableDiffusionConfig, "deepfloyd-if": DeepFloydIFConfig, "mvdream": MVDreamConfig}
        if kind == "bundled":
            spec: Any = BundledPriorSpec()
        elif kind in specs:
            spec = specs[kind](model=model)
        else:
            raise ValueError(f"unknown prior kind {kind!r}")
        prior = spec.build(torch.device(device))
        conditions = PromptEmbeddings.encode(spec.text_encoder(prior), PROMPT, None,
                                             view_dependent=not spec.camera_conditioned)
        guidance_cfg = StageConfig().guidance
    load_s = time.perf_counter() - t0
    guidance = guidance_cfg.build(prior)
    cams = Cameras.from_spherical(torch.full((views,), 20.0), torch.linspace(0, 360, views + 1)[:-1],
                                  torch.full((views,), 2.75), 40.0, resolution).to(device)
    images = torch.rand(views, resolution, resolution, 3, generator=torch.Generator().manual_seed(0)).to(device)
    images.requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    losses = []

    def step() -> None:
        images.grad = None
        out = guidance(images, conditions.conditions(cams), cams, step=0, max_steps=1, generator=gen)
        out.loss.backward()
        losses.append(float(out.loss.detach()))

    t = time.perf_counter()
    step()
    sync()
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    step()
    sync()
    step_s = time.perf_counter() - t
    finite = bool(images.grad is not None and torch.isfinite(images.grad).all())
    return {"status": "passed" if finite and all(map(math.isfinite, losses)) else "failed",
            "load_s": round(load_s, 2), "first_step_s": round(first_s, 3), "step_s": round(step_s, 3),
            "loss": losses[-1], "grad_finite": finite, "views": views, "resolution": resolution,
            "guidance": type(guidance).__name__}


# ------------------------------------------------------------------------------------------ child tasks


def _left(args: Mapping[str, Any], reserve: float = 2.0) -> float:
    """Seconds until the section's deadline, less ``reserve`` for writing the result."""
    return float(args["deadline"]) - time.time() - reserve


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def child_env(args: Mapping[str, Any]) -> dict[str, Any]:
    """Versions, GPU, and the JIT toolchain (nvcc, CUDA_HOME, ninja)."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count(), "nvcc": shutil.which("nvcc"),
                            "packages": {n: _dist_version(n) for n in ("lift3d", "torch", "gsplat", "nerfacc",
                                                                       "nvdiffrast", "diffusers", "transformers",
                                                                       "ninja")}}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            done = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=30)
            info["nvidia_smi"] = done.stdout.strip() or done.stderr.strip()
        except (OSError, subprocess.SubprocessError) as e:
            info["nvidia_smi"] = one_line(e)
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, is_ninja_available

    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                cuda_home=CUDA_HOME, ninja=is_ninja_available())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}", gpu_count=torch.cuda.device_count(),
                    gpu_memory_gib=round(props.total_memory / 2**30, 1), cudnn=torch.backends.cudnn.version())
    from lift3d.renderers._mesh_nvdiffrast import nvdiffrast_available

    info["nvdiffrast_importable"] = nvdiffrast_available()
    return {"status": "passed", **info}


JIT_SNIPPETS: dict[str, str] = {
    "gsplat": "from gsplat.cuda._backend import _C\nassert _C is not None, 'gsplat CUDA extension unavailable'",
    "nerfacc": "from nerfacc.cuda._backend import _C\nassert _C is not None, 'nerfacc CUDA extension unavailable'",
    "nvdiffrast": "import nvdiffrast.torch as dr\ndr.RasterizeCudaContext(device='cuda')",
}
"""What makes each library build (or load) its CUDA extension."""


def child_compile(args: Mapping[str, Any]) -> dict[str, Any]:
    """Build gsplat's, nerfacc's (and nvdiffrast's, when installed) CUDA extensions in parallel processes."""
    workdir = Path(args["workdir"])
    libs = {k: v for k, v in JIT_SNIPPETS.items() if k != "nvdiffrast" or importlib.util.find_spec("nvdiffrast")}
    procs: dict[str, tuple[subprocess.Popen, float, Path, Any]] = {}
    for name, code in libs.items():
        log = workdir / f"compile-{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 - closed below
        procs[name] = (subprocess.Popen([sys.executable, "-c", code], stdout=handle, stderr=subprocess.STDOUT,
                                        cwd=REPO), time.monotonic(), log, handle)
    results: dict[str, Any] = {}
    for name, (proc, t0, log, handle) in procs.items():
        try:
            code = proc.wait(timeout=max(_left(args), 0.1))
            ok = code == 0
            results[name] = {"status": "passed" if ok else "failed", "compile_s": round(time.monotonic() - t0, 1),
                             "log": str(log)}
            if not ok:
                results[name]["reason"] = last_line(log)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            results[name] = {"status": "timeout", "log": str(log), "reason": "section deadline reached"}
        finally:
            handle.close()
    if "nvdiffrast" not in results:
        results["nvdiffrast"] = skipped("nvdiffrast not installed (optional)")
    required = [results[k]["status"] for k in ("gsplat", "nerfacc")]
    return {"status": "passed" if all(s == "passed" for s in required) else "failed", "libraries": results,
            "note": "compile_s includes loading; a build cached in ~/.cache/torch_extensions only loads"}


def child_tests(args: Mapping[str, Any]) -> dict[str, Any]:
    """``pytest -m gpu`` with a JUnit report; counts, failures and skip reasons."""
    workdir = Path(args["workdir"])
    junit, log = workdir / "pytest-gpu.xml", workdir / "pytest-gpu.log"
    code, timed_out = run_logged(pytest_argv(sys.executable, junit), _left(args), log, new_session=False)
    result: dict[str, Any] = {"exit_status": code, "junit": str(junit), "pytest_log": str(log)}
    if junit.is_file():
        result.update(parse_junit(junit))
    if timed_out:
        return {**result, "status": "timeout", "reason": "pytest ran past the section deadline"}
    ok = code == 0 and result.get("passed", 0) > 0
    result["status"] = "passed" if ok else "failed"
    if not ok:
        result["reason"] = ("no gpu test ran (all skipped or none collected)" if code in (0, 5)
                            else f"pytest exit status {code}: {last_line(log)}")
    return result


def _partial_writer(args: Mapping[str, Any]) -> Progress:
    """Writes a benchmark's finished cases to the section's result file (kept if the section times out)."""
    path = args.get("result_path")
    return None if path is None else (lambda partial: write_json(Path(path), partial))


def child_bench_gaussians(args: Mapping[str, Any]) -> dict[str, Any]:
    return bench_gaussians("cuda", progress=_partial_writer(args))


def child_bench_volume(args: Mapping[str, Any]) -> dict[str, Any]:
    return bench_volume("cuda", progress=_partial_writer(args))


def child_bench_mesh(args: Mapping[str, Any]) -> dict[str, Any]:
    return bench_mesh("cuda", progress=_partial_writer(args))


def run_cli(argv: Sequence[str], args: Mapping[str, Any], name: str, output: Path,
            timeout_s: float | None = None) -> dict[str, Any]:
    """Run ``python -m lift3d.cli ARGV`` with a timeout (default: until the deadline); wall time, status, exports."""
    log = Path(args["workdir"]) / f"{name}.log"
    limit = _left(args) if timeout_s is None else min(timeout_s, _left(args))
    t0 = time.monotonic()
    code, timed_out = run_logged(lift3d_cli(sys.executable, *argv), limit, log, new_session=False)
    wall = round(time.monotonic() - t0, 1)
    exports = sorted(p.name for p in (output / "export").glob("*")) if (output / "export").is_dir() else []
    result = {"command": ["lift3d", *argv], "wall_s": wall, "exit_status": code, "output": str(output),
              "exports": exports, "log": str(log)}
    if timed_out:
        return {**result, "status": "timeout", "reason": f"ran past {limit:.0f} s (last log line: {last_line(log)!r})"}
    if code != 0 or not exports:
        return {**result, "status": "failed", "reason": last_line(log) or f"exit status {code}, no export/"}
    return {**result, "status": "passed"}


def child_generate(args: Mapping[str, Any]) -> dict[str, Any]:
    output = Path(args["workdir"]) / "runs" / "generate"
    return run_cli(generate_argv(output), args, "generate-cli", output)


def child_reconstruct(args: Mapping[str, Any]) -> dict[str, Any]:
    workdir = Path(args["workdir"])
    image = make_input_image(workdir / "inputs" / "red_cube.png")
    output = workdir / "runs" / "reconstruct"
    return {"input": str(image), **run_cli(reconstruct_argv(image, output), args, "reconstruct-cli", output)}


def child_prior_step(args: Mapping[str, Any]) -> dict[str, Any]:
    return prior_guidance_step(args["kind"], args["model"], args.get("device", "cuda"),
                               int(args.get("resolution", PRIOR_RESOLUTION)))


def run_prior(entry: Mapping[str, Any], args: Mapping[str, Any], image: Path) -> dict[str, Any]:
    """One cached prior: a guidance step (its own process), then the ``PRIOR_STEPS``-step CLI run."""
    workdir = Path(args["workdir"])
    slug = entry["repo"].replace("/", "--")
    left = _left(args)
    if left < 20:
        return {**entry, **skipped("budget: section deadline reached")}
    step = run_child(sys.executable, "prior-step", min(150.0, left), workdir, os.environ,
                     {"kind": entry["kind"], "model": entry["repo"]}, name=f"prior-step-{slug}", new_session=False)
    left = _left(args)
    if left < 20:
        run = skipped("budget: section deadline reached")
    else:
        output = workdir / "runs" / f"prior-{slug}"
        run = run_cli(prior_run_argv(entry["kind"], entry["repo"], image, output), args, f"prior-run-{slug}", output,
                      timeout_s=min(300.0, left))
    ok = step.get("status") == "passed" and run.get("status") == "passed"
    return {**entry, "status": "passed" if ok else "failed", "guidance_step": step, f"run_{PRIOR_STEPS}_steps": run}


def child_priors(args: Mapping[str, Any]) -> dict[str, Any]:
    """Each known prior in the HF cache: guidance step + short run; absent ones ``skipped: not in cache``."""
    cache = hub_cache_dir()
    entries = detect_priors(cache)
    image: Path | None = None
    results = []
    for entry in entries:
        if not entry["present"]:
            results.append({**entry, **skipped("not in cache")})
        elif entry["kind"] == "checkpoint":
            results.append({**entry, **skipped("single-file checkpoint repo: lift3d loads diffusers layouts "
                                               "(ashawkey/stable-zero123-diffusers is its port)")})
        else:
            image = image or make_input_image(Path(args["workdir"]) / "inputs" / "red_cube.png")
            results.append(run_prior(entry, args, image))
    ran = [r for r in results if r["status"] != "skipped"]
    status = "skipped" if not ran else ("passed" if all(r["status"] == "passed" for r in ran) else "failed")
    out = {"status": status, "cache": str(cache), "priors": results, "other_cached_repos": other_cached_repos(cache)}
    if status == "skipped":
        out["reason"] = f"no prior lift3d knows is in the Hugging Face cache {cache}"
    return out


CHILD_TASKS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "env": child_env, "compile": child_compile, "tests": child_tests, "bench-gaussians": child_bench_gaussians,
    "bench-volume": child_bench_volume, "bench-mesh": child_bench_mesh, "generate": child_generate,
    "reconstruct": child_reconstruct, "priors": child_priors, "prior-step": child_prior_step,
}


def child_main(argv: Sequence[str]) -> int:
    """``--child TASK --child-out FILE --child-args JSON``: run TASK, write its result (exceptions included)."""
    parser = argparse.ArgumentParser(prog=f"{PROG} --child")
    parser.add_argument("--child", choices=sorted(CHILD_TASKS), required=True)
    parser.add_argument("--child-out", type=Path, required=True)
    parser.add_argument("--child-args", default="{}")
    ns = parser.parse_args(argv)
    args = json.loads(ns.child_args)
    try:
        result = CHILD_TASKS[ns.child](args)
    except Exception as e:  # noqa: BLE001 - reported in the result, traceback in the log
        traceback.print_exc()
        result = {"status": "failed", "reason": one_line(e)}
    write_json(ns.child_out, result)
    return 0


# ------------------------------------------------------------------------------------------------ parent


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (atomically: a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``gpu_check.py: error: ...``, exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{PROG}: error: {message}; see --help", file=sys.stderr)
        raise SystemExit(2)


def parse_cli(argv: Sequence[str]) -> argparse.Namespace:
    """The command line; usage errors exit 2 with one line on stderr."""
    parser = _Parser(prog=PROG, description=(__doc__ or "").splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="sections: " + "; ".join(f"{s.name} ({s.summary})" for s in SECTIONS))
    parser.add_argument("--sections", default="all",
                        help=f"comma-separated subset of: {', '.join(SECTION_NAMES)}; or all (default)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="JSON summary file")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help="total seconds from the start (install included); sections that no longer fit are "
                             "skipped (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and run nothing (works on CPU)")
    parser.add_argument("--install", action="store_true",
                        help='create --venv and pip install -e ".[dev]" (+ ninja, nvdiffrast if available) first')
    parser.add_argument("--venv", type=Path, default=Path(DEFAULT_VENV), help="venv for --install (default %(default)s)")
    parser.add_argument("--python", default=None,
                        help="interpreter that runs the sections (default: this one, or the --venv one with --install)")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and run folders (default: a new temp folder)")
    args = parser.parse_args(argv)
    try:
        args.selected = select_sections(args.sections)
    except UsageError as e:
        parser.error(str(e))
    if not args.budget_s > 0:
        parser.error(f"--budget-s must be > 0, got {args.budget_s:g}")
    return args


def _interpreter(args: argparse.Namespace) -> str:
    if args.python:
        return args.python
    venv = args.venv if args.venv.is_absolute() else REPO / args.venv
    return str(venv / "bin" / "python") if args.install else sys.executable


def section_commands(name: str, python: str, workdir: str) -> list[str]:
    """What a section runs, for the dry-run plan."""
    wd = Path(workdir)
    cli = shlex.join
    commands = {
        "env": [f"{python} -c 'import torch; ...'  (versions, GPU, nvcc, ninja, nvdiffrast import)"],
        "compile": [cli([python, "-c", "; ".join(code.splitlines())]) for code in JIT_SNIPPETS.values()],
        "tests": [cli(pytest_argv(python, wd / "pytest-gpu.xml"))],
        "bench-gaussians": [f"in-process: GaussianRenderer cuda {GAUSSIANS_FULL}; cuda and torch {GAUSSIANS_SMALL} "
                            "(Gaussians, width, height)"],
        "bench-volume": [f"in-process: VolumeRenderer torch / torch+occupancy / cuda (nerfacc), "
                         f"{VOLUME_SIZE}x{VOLUME_SIZE}, {VOLUME_SAMPLES} samples/ray"],
        "bench-mesh": [f"in-process: render_mesh ours / nvdiffrast, ~{MESH_FACES} faces, {MESH_SIZE}x{MESH_SIZE}"],
        "generate": [cli(lift3d_cli(python, *generate_argv(wd / "runs" / "generate")))],
        "reconstruct": [cli(lift3d_cli(python, *reconstruct_argv(wd / "inputs" / "red_cube.png",
                                                                 wd / "runs" / "reconstruct")))],
        "priors": ["per cached prior: one SDS guidance step, then "
                   + cli(lift3d_cli(python, *prior_run_argv("stable-diffusion", "<repo>", wd / "inputs" / "red_cube.png",
                                                            wd / "runs" / "prior-<repo>")))],
    }
    return commands[name]


def dry_run(args: argparse.Namespace) -> dict[str, Any]:
    """Print the plan (install commands, sections with timeouts and commands, cached priors); returns it."""
    python = _interpreter(args)
    workdir = str(args.workdir or "<new temporary folder>")
    venv = args.venv if args.venv.is_absolute() else REPO / args.venv
    cache = hub_cache_dir()
    priors = detect_priors(cache)
    install = [shlex.join(s.cmd) for s in install_steps(venv, sys.executable)] if args.install else []
    print(f"{PROG} plan (dry run: nothing is run); budget {args.budget_s:g} s from the start; workdir {workdir}")
    print(f"install: {'; '.join(install) if install else 'not requested (--install creates ' + str(args.venv) + ')'}")
    print(f"interpreter for the sections: {python}")
    for s in args.selected:
        print(f"  {s.name:<16} timeout {s.timeout_s:>4.0f} s (starts with >= {s.min_s:.0f} s left)"
              f"{'  [CUDA]' if s.needs_cuda else ''}  {s.summary}")
        for c in section_commands(s.name, python, workdir):
            print(f"  {'':<16} $ {c}")
    print(f"Hugging Face cache: {cache}")
    for p in priors:
        state = ("present: would run" if p["kind"] != "checkpoint" else "present: skipped (single-file checkpoint)") \
            if p["present"] else "skipped: not in cache"
        print(f"  {p['repo']:<40} {p['kind']:<17} {state}")
    return {"dry_run": True, "budget_s": args.budget_s, "install": install, "python": python,
            "sections": [{"name": s.name, "timeout_s": s.timeout_s, "needs_cuda": s.needs_cuda,
                          "commands": section_commands(s.name, python, workdir)} for s in args.selected],
            "hf_cache": str(cache), "priors": priors, "other_cached_repos": other_cached_repos(cache)}


def versions(env_result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The versions the summary leads with (from the env section)."""
    env = env_result or {}
    pkgs = env.get("packages", {})
    smi = str(env.get("nvidia_smi") or "")
    return {"torch": env.get("torch"), "cuda": env.get("torch_cuda"), "gpu": env.get("gpu"),
            "driver": smi.split(",")[1].strip() if smi.count(",") >= 2 else None, "gsplat": pkgs.get("gsplat"),
            "nerfacc": pkgs.get("nerfacc"), "nvdiffrast": pkgs.get("nvdiffrast"), "lift3d": pkgs.get("lift3d"),
            "python": env.get("python")}


def overall_status(install: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]]) -> str:
    """``failed`` (install, or a section failed / timed out), ``no-cuda``, or ``passed``."""
    if install.get("status") == "failed":
        return "failed"
    if any(r.get("status") in ("failed", "timeout") for r in sections.values()):
        return "failed"
    if cuda_missing(sections.get("env")):
        return "no-cuda"
    return "passed"


def _progress(name: str, result: Mapping[str, Any]) -> None:
    extra = f" in {result['wall_s']:.1f} s" if "wall_s" in result else ""
    why = f": {result['reason']}" if result.get("reason") else ""
    print(f"[{PROG}] {name}: {result.get('status')}{extra}{why}", file=sys.stderr, flush=True)


def run_check(args: argparse.Namespace, start: float) -> dict[str, Any]:
    """Install (if asked), run the selected sections, and assemble the summary."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="gpu_check_"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = _interpreter(args)
    install: dict[str, Any] = {"status": "not requested"}
    if args.install:
        venv = args.venv if args.venv.is_absolute() else REPO / args.venv
        install = run_install(venv, sys.executable, workdir, start + args.budget_s)
        _progress("install", install)
    environ = child_environ(os.environ)
    state: dict[str, Any] = {}

    def runner(section: Section, limit: float) -> dict[str, Any]:
        env = child_environ(environ, state.get("env"))
        result = run_child(python, section.name, limit, workdir, env)
        if section.name == "env":
            state["env"] = result
        return result

    if install["status"] == "failed":
        sections = {s.name: skipped("install failed (see install.steps)") for s in args.selected}
    else:
        sections = run_plan(args.selected, args.budget_s, start, runner, report=_progress)
    compile_times = {k: v.get("compile_s") for k, v in sections.get("compile", {}).get("libraries", {}).items()
                     if "compile_s" in v}
    return {"gpu_check": SCHEMA, "status": overall_status(install, sections), "started_utc": started,
            "wall_s": round(time.monotonic() - start, 1), "budget_s": args.budget_s, "python": python,
            "workdir": str(workdir), "versions": versions(sections.get("env")), "jit_compile_s": compile_times,
            "install": install, "sections": sections}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the check (or ``--dry-run``), one JSON line last on stdout; exit 0 passed, 1 not, 2 usage."""
    start = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child_main(argv)
    args = parse_cli(argv)
    if args.dry_run:
        print(json.dumps(dry_run(args), default=str), flush=True)
        return 0
    summary = run_check(args, start)
    write_json(args.out, summary)
    if summary["status"] == "no-cuda":
        print(f"{PROG}: {cuda_missing(summary['sections'].get('env'))}; every CUDA section skipped "
              f"(summary: {args.out})", file=sys.stderr, flush=True)
    print(json.dumps(summary, default=str), flush=True)
    return 0 if summary["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
