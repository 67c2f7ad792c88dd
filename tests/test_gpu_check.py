"""benchmarks/gpu_check.py on CPU: arguments, dry run, HF-cache detection, budget, no-CUDA report, CPU smoke runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
SD = "stabilityai/stable-diffusion-2-1-base"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gc = _load()


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _fake_snapshot(cache: Path, repo: str, files: tuple[str, ...] = ("model_index.json", "unet/config.json")) -> Path:
    """The hub cache layout: models--org--name/{refs/main, snapshots/<commit>/...}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / "0123abcd"
    for f in files:
        (snap / f).parent.mkdir(parents=True, exist_ok=True)
        (snap / f).write_text("{}")
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text("0123abcd")
    return snap


# ------------------------------------------------------------------------------------------- arguments


def test_select_sections_keeps_run_order_and_always_adds_env() -> None:
    assert [s.name for s in gc.select_sections("all")] == list(gc.SECTION_NAMES)
    assert [s.name for s in gc.select_sections("priors, tests")] == ["env", "tests", "priors"]
    assert [s.name for s in gc.select_sections("env")] == ["env"]
    for bad in ("foo", "tests,foo", "", "tests,"):
        with pytest.raises(gc.UsageError):
            gc.select_sections(bad)


@pytest.mark.parametrize(("args", "needle"), [
    (["--sections", "tests,warp-drive"], "unknown section 'warp-drive'"),
    (["--budget-s", "0"], "--budget-s must be > 0"),
    (["--no-such-flag"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_exit_2(args: list[str], needle: str) -> None:
    done = _run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check.py: error:") and needle in lines[0]


def test_dry_run_prints_the_plan_without_running_anything(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    done = _run("--dry-run", "--sections", "tests,priors,bench-mesh", "--out", str(out), "--install",
                env={"HF_HUB_CACHE": str(tmp_path / "hub")}, timeout=30)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout.strip().splitlines()[-1])
    assert plan["dry_run"] is True
    assert [s["name"] for s in plan["sections"]] == ["env", "tests", "bench-mesh", "priors"]
    assert any("-m pytest -m gpu" in c for s in plan["sections"] for c in s["commands"])
    assert any("pip install" in c and "-e '.[dev]'" in c for c in plan["install"])
    assert plan["python"].endswith(".venv-gpu/bin/python")
    assert all(not p["present"] for p in plan["priors"])
    assert "skipped: not in cache" in done.stdout
    assert not out.exists() and not (tmp_path / "hub").exists()


# --------------------------------------------------------------------------------------------- HF cache


def test_hub_cache_dir_matches_lift3d(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lift3d.priors.hub import hub_cache_dir

    for env in ({"HF_HUB_CACHE": str(tmp_path / "c")}, {"HF_HOME": str(tmp_path / "h")}, {}):
        monkeypatch.delenv("HF_HUB_CACHE", raising=False)
        monkeypatch.delenv("HF_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert gc.hub_cache_dir() == hub_cache_dir()


def test_empty_cache_has_no_priors(tmp_path: Path) -> None:
    assert all(not p["present"] and p["snapshot"] is None for p in gc.detect_priors(tmp_path / "missing"))
    (tmp_path / "hub").mkdir()
    assert all(not p["present"] for p in gc.detect_priors(tmp_path / "hub"))
    assert gc.other_cached_repos(tmp_path / "hub") == []


def test_fake_snapshot_is_detected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cache = gc.hub_cache_dir()
    snap = _fake_snapshot(cache, SD)
    _fake_snapshot(cache, "someone/other-model")
    (cache / "models--ashawkey--mvdream-sd2.1-diffusers" / "snapshots" / "empty").mkdir(parents=True)  # no files
    found = {p["repo"]: p for p in gc.detect_priors(cache)}
    assert found[SD]["present"] and found[SD]["snapshot"] == str(snap) and found[SD]["kind"] == "stable-diffusion"
    assert [r for r, p in found.items() if p["present"]] == [SD]
    assert gc.other_cached_repos(cache) == ["someone/other-model"]


def test_priors_section_skips_absent_weights_and_runs_present_ones(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    args = {"workdir": str(tmp_path / "work"), "deadline": time.time() + 60}
    result = gc.child_priors(args)
    assert result["status"] == "skipped" and "no prior" in result["reason"]
    assert {(p["status"], p["reason"]) for p in result["priors"]} == {("skipped", "not in cache")}

    _fake_snapshot(cache, SD)
    _fake_snapshot(cache, "stabilityai/stable-zero123", ("stable_zero123.ckpt",))
    ran = []
    monkeypatch.setattr(gc, "make_input_image", lambda path, resolution=128: path)
    monkeypatch.setattr(gc, "run_prior", lambda entry, a, image: ran.append(entry["repo"]) or {**entry, "status": "passed"})
    result = gc.child_priors(args)
    assert ran == [SD] and result["status"] == "passed"
    by_repo = {p["repo"]: p for p in result["priors"]}
    assert by_repo["stabilityai/stable-zero123"]["status"] == "skipped"
    assert "checkpoint" in by_repo["stabilityai/stable-zero123"]["reason"]
    assert sum(p.get("reason") == "not in cache" for p in result["priors"]) == len(gc.KNOWN_PRIORS) - 2


# ----------------------------------------------------------------------------------------------- budget


def test_section_limit() -> None:
    s = gc.Section("x", "x", timeout_s=100, min_s=20)
    assert gc.section_limit(s, 500) == 100
    assert gc.section_limit(s, 50) == 50
    assert gc.section_limit(s, 19.9) is None


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_skips_sections_that_no_longer_fit() -> None:
    clock, calls = _Clock(), []
    cost = {"env": 5.0, "compile": 80.0, "tests": 10.0}

    def runner(section, limit: float) -> dict:
        calls.append((section.name, limit))
        clock.now += cost[section.name]
        return {"status": "passed", "cuda_available": True} if section.name == "env" else {"status": "passed"}

    sections = gc.select_sections("compile,tests")
    results = gc.run_plan(sections, budget_s=100, start=0.0, runner=runner, clock=clock)
    assert calls == [("env", 90), ("compile", 95)]  # each timeout capped by what is left
    assert results["tests"]["status"] == "skipped" and results["tests"]["reason"].startswith("budget: 15 s left")
    results = gc.run_plan(sections, budget_s=3, start=clock.now, runner=runner, clock=clock)
    assert all(r["status"] == "skipped" for r in results.values())


def test_cuda_sections_are_skipped_without_cuda() -> None:
    def runner(section, limit: float) -> dict:
        assert section.name == "env"
        return {"status": "passed", "cuda_available": False, "torch": "2.x+cpu"}

    results = gc.run_plan(gc.select_sections("all"), 460, 0.0, runner, clock=lambda: 0.0)
    assert results["env"]["status"] == "passed"
    assert all(r["status"] == "skipped" and r["reason"].startswith("no CUDA") for k, r in results.items() if k != "env")
    assert gc.overall_status({"status": "not requested"}, results) == "no-cuda"


def test_no_cuda_run_says_so_in_one_line_and_prints_json(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    out = tmp_path / "summary.json"
    done = _run("--sections", "env,tests,bench-gaussians,priors", "--out", str(out), "--workdir", str(tmp_path / "w"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("gpu_check.py: no CUDA")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary == json.loads(out.read_text())
    assert summary["status"] == "no-cuda" and summary["versions"]["torch"] == torch.__version__
    assert summary["sections"]["env"]["status"] == "passed"
    for name in ("tests", "bench-gaussians", "priors"):
        assert summary["sections"][name] == {"status": "skipped", "reason": summary["sections"][name]["reason"]}
        assert summary["sections"][name]["reason"].startswith("no CUDA")


def test_failed_install_skips_every_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(gc, "install_steps", lambda venv, python: [
        gc.InstallStep("ninja", ("false",), False, 5), gc.InstallStep("lift3d", ("false",), True, 5),
        gc.InstallStep("never", ("true",), False, 5)])
    out = tmp_path / "s.json"
    code = gc.main(["--install", "--venv", str(tmp_path / "venv"), "--out", str(out), "--workdir", str(tmp_path / "w")])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1 and summary["status"] == "failed"
    steps = summary["install"]["steps"]
    assert steps["ninja"]["status"] == "failed" and steps["lift3d"]["status"] == "failed" and "never" not in steps
    assert all(s["status"] == "skipped" and "install failed" in s["reason"] for s in summary["sections"].values())


# ------------------------------------------------------------------------------------- processes, reports


def test_timeout_stops_the_process_group(tmp_path: Path) -> None:
    log = tmp_path / "sleep.log"
    marker = tmp_path / "late"
    t = time.monotonic()
    code, timed_out = gc.run_logged(["bash", "-c", f"(sleep 1; touch {marker}) & sleep 30"], 0.3, log)
    assert timed_out and code is None and time.monotonic() - t < 10
    time.sleep(1.5)
    assert not marker.exists()  # the grandchild went with the group


def test_run_child_reports_a_missing_interpreter(tmp_path: Path) -> None:
    result = gc.run_child(str(tmp_path / "no-python"), "env", 10, tmp_path, os.environ)
    assert result["status"] == "failed" and "without a (final) result" in result["reason"]


def test_run_child_reports_a_timeout(tmp_path: Path) -> None:
    result = gc.run_child(sys.executable, "env", 0.2, tmp_path, os.environ)  # importing torch takes longer
    assert result["status"] == "timeout" and "0 s timeout" in result["reason"] and result["wall_s"] < 10


def test_parse_junit(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="4">'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="assert 1 == 2">tb</failure></testcase>'
        '<testcase classname="tests.test_b" name="test_err"><error message="fixture broke"/></testcase>'
        '<testcase classname="tests.test_b" name="test_skip"><skipped message="nvdiffrast not importable"/></testcase>'
        "</testsuite></testsuites>")
    r = gc.parse_junit(xml)
    assert {k: r[k] for k in ("tests", "passed", "failed", "errors", "skipped")} == {
        "tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert r["failures"][0] == {"test": "tests.test_a::test_bad", "message": "assert 1 == 2"}
    assert r["skip_reasons"] == ["nvdiffrast not importable"]


# --------------------------------------------------------------- the GPU sections' code paths, on CPU


def test_cli_commands_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import lift3d.pipelines.generate as generate
    import lift3d.pipelines.reconstruct as reconstruct

    got = []
    monkeypatch.setattr(generate, "generate", lambda cfg: got.append(cfg) or [])
    monkeypatch.setattr(reconstruct, "reconstruct", lambda cfg: got.append(cfg) or tmp_path)
    generate.main(gc.generate_argv(tmp_path / "g")[1:])
    assert got[-1].prompt == gc.PROMPT and got[-1].device == "cuda" and got[-1].init.KIND == "sample-reconstruct"
    reconstruct.main(gc.reconstruct_argv(tmp_path / "in.png", tmp_path / "r")[1:])
    assert got[-1].mode == "feedforward+refine" and got[-1].device == "cuda"
    for kind, spec in (("stable-diffusion", "StableDiffusionConfig"), ("deepfloyd-if", "DeepFloydIFConfig"),
                       ("mvdream", "MVDreamConfig"), ("zero123", "NovelViewPriorSpec")):
        argv = gc.prior_run_argv(kind, "org/name", tmp_path / "in.png", tmp_path / kind)
        (generate.main if argv[0] == "generate" else reconstruct.main)(argv[1:])
        cfg = got[-1]
        assert type(cfg.prior).__name__ == spec and cfg.prior.model == "org/name" and cfg.turntable_frames == 0
        steps = cfg.refine.steps if kind == "zero123" else cfg.stage.steps
        assert steps == gc.PRIOR_STEPS


def test_benchmarks_run_on_cpu_with_the_torch_backends() -> None:
    g = gc.bench_gaussians("cpu", backends=("torch",), full=(2000, 64, 48), small=(500, 32, 24), repeats=1)
    assert g["status"] == "passed" and g["cases"]["torch_small"]["forward_backward_s"] > 0
    assert "ESTIMATE" in g["torch_full_estimate"]["note"]
    partial: list[dict] = []
    v = gc.bench_volume("cpu", size=16, samples=16, repeats=1, cuda_marcher=False, progress=partial.append)
    assert v["status"] == "passed" and v["cases"]["torch_occupancy"]["max_abs_diff"] < 1e-3
    assert [list(p["cases"]) for p in partial] == [["torch"], ["torch", "torch_occupancy"]]
    m = gc.bench_mesh("cpu", faces=2000, size=32, repeats=1)
    assert m["status"] == "passed" and set(m["cases"]) == {"ours"}


def test_guidance_step_runs_with_the_bundled_priors() -> None:
    for kind, views in (("bundled", 4), ("zero123", 2)):
        r = gc.prior_guidance_step(kind, "", "cpu", resolution=32, views=views)
        assert r["status"] == "passed" and r["grad_finite"] and r["step_s"] > 0, r


def test_input_image_is_rgba(tmp_path: Path) -> None:
    from PIL import Image

    path = gc.make_input_image(tmp_path / "cube.png", 32)
    with Image.open(path) as im:
        assert im.mode == "RGBA" and im.size == (32, 32)
        assert im.getextrema()[3] == (0, 255)
