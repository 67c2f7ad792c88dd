"""lift3d batch on one local Ray instance (2 CPUs): outputs and manifest agree; a job whose worker is
killed is retried by Ray and completes (resuming its checkpoint); a job that keeps raising fails after a
bounded number of attempts, bad input inside a job after one; a second run does no work; edit and texture jobs
run end to end beside them."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lift3d.batch.manifest import Manifest
from lift3d.batch.runner import BatchConfig, plan, run_batch

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (Ray starts in seconds, not milliseconds)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 ** 2, log_to_driver=False)
    yield
    ray.shutdown()


def _tiny(prior: Path, steps: int = 2) -> list[str]:
    return ["--stage.steps", str(steps), "--stage.resolution", "16", "--stage.views-per-step", "1",
            "--turntable-frames", "2", "--checkpoint-every", "5", "--asset.texture-size", "0",
            "prior:bundled", "--prior.path", str(prior)]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _image(path: Path) -> Path:
    import numpy as np
    from PIL import Image

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 10:22] = (200, 30, 30, 255)
    Image.fromarray(rgba).save(path)
    return path


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_batch_outputs_match_manifest_and_rerun_does_nothing(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    _image(tmp_path / "red.png")
    rows = [{"prompt": "a red cube", "preset": "dreamfusion", "args": _tiny(tiny_bundled_prior)},
            {"prompt": "a blue sphere", "preset": "dreamfusion", "seed": 3, "args": _tiny(tiny_bundled_prior, 3)},
            {"prompt": "a green cone", "preset": "sjc", "args": _tiny(tiny_bundled_prior)},
            {"image": "red.png", "mode": "feedforward",
             "args": ["--resolution", "32", "--turntable-frames", "2", "--asset.texture-size", "0"]}]
    cfg = BatchConfig(jobs=_jsonl(tmp_path / "jobs.jsonl", rows), output=tmp_path / "out", quiet=True)
    jobs, manifest = plan(cfg)
    result = run_batch(cfg)
    assert (result.total, result.done, result.skipped, result.failed) == (4, 4, 0, 0)

    records = manifest.records()
    assert sorted(r["job"] for r in records) == sorted(j.id for j in jobs)  # one record per job
    root = tmp_path / "out"
    for job, row in zip(jobs, rows):
        (r,) = [r for r in records if r["job"] == job.id]
        assert r["status"] == "done" and r["attempts"] == 1 and r["error"] is None
        assert r["host"] and r["pid"] != os.getpid() and r["seconds"] > 0 and r["finished"] >= r["started"]
        assert r["outputs"] == [f"jobs/{job.id}/run"]
        run = root / r["outputs"][0]
        assert "mesh.glb" in [Path(f).name for f in r["files"]] and all((root / f).is_file() for f in r["files"])
        assert any((run / "media").glob("turntable.*"))
        config = json.loads((run / "config.json").read_text())
        if job.kind == "generate":
            steps = int(row["args"][1])
            assert _steps(run) == list(range(1, steps + 1)) and r["metrics"][0]["step"] == steps
            assert json.dumps(config).count(row["prompt"]) >= 1
            assert json.loads((run / "env.json").read_text())["seed"] == row.get("seed", 0)
        else:
            assert r["kind"] == "reconstruct" and (run / "export" / "splats.ply").is_file()
    sjc = json.loads((root / f"jobs/{jobs[2].id}/run/config.json").read_text())
    assert "sjc" in json.dumps(sjc).lower()  # the row's preset was used

    before = manifest.path.read_bytes()
    attempts_before = {j.id: (j.folder / "attempts.jsonl").read_text() for j in jobs}
    again = run_batch(cfg)
    assert (again.done, again.skipped, again.failed) == (0, 4, 0)
    assert manifest.path.read_bytes() == before
    assert {j.id: (j.folder / "attempts.jsonl").read_text() for j in jobs} == attempts_before


def _kill_when_checkpointed(folder: Path, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the worker running the job in ``folder`` once it has written a checkpoint."""
    while not stop.is_set():
        attempts = folder / "attempts.jsonl"
        if attempts.is_file() and any((folder / "run" / "ckpt").glob("step_*")):
            pid = json.loads(attempts.read_text().splitlines()[0])["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def test_killed_worker_is_retried_and_completes(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    rows = [{"prompt": "a red torus", "preset": "dreamfusion", "args": _tiny(tiny_bundled_prior, 60)},
            {"prompt": "a yellow cube", "preset": "dreamfusion", "args": _tiny(tiny_bundled_prior)},
            {"image": "missing-model.png", "mode": "feedforward", "args": ["--model", str(tmp_path / "nowhere")]},
            {"image": "corrupt-model.png", "mode": "feedforward", "args": ["--model", str(tmp_path / "corrupt")]}]
    _image(tmp_path / "missing-model.png")
    _image(tmp_path / "corrupt-model.png")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{not json")
    cfg = BatchConfig(jobs=_jsonl(tmp_path / "jobs.jsonl", rows), output=tmp_path / "out", retries=1, evaluate=True,
                      quiet=True)
    (victim, other, broken, corrupt), manifest = plan(cfg)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_checkpointed, args=(victim.folder, killed, stop), daemon=True)
    killer.start()
    try:
        result = run_batch(cfg)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1, "the victim finished before it could be killed"
    assert (result.done, result.failed) == (2, 2)
    latest = manifest.latest()
    r = latest[victim.id]
    assert r["status"] == "done" and r["attempts"] == 2 and r["pid"] != killed[0]
    pids = [json.loads(line)["pid"] for line in (victim.folder / "attempts.jsonl").read_text().splitlines()]
    assert pids[0] == killed[0] and len(pids) == 2
    run = tmp_path / "out" / r["outputs"][0]
    assert _steps(run) == list(range(1, 61))  # resumed from its checkpoint, metrics rewound, no step twice
    assert latest[other.id]["status"] == "done" and latest[other.id]["attempts"] == 1
    for record in (r, latest[other.id]):  # --evaluate: scored against the procedural ground truth
        m = record["metrics"][0]
        assert 0.0 <= m["iou"] <= 1.0 and isinstance(m["retrieval_correct"], bool) and "colour_correct" in m
    # bad input inside a job is not retried: one attempt, one clear error
    b = latest[broken.id]
    assert b["status"] == "failed" and b["attempts"] == 1 and "no reconstruction model" in b["error"]
    # any other exception is retried by Ray, a bounded number of times (--retries 1: two attempts)
    c = latest[corrupt.id]
    assert c["status"] == "failed" and c["attempts"] == 2 and c["error"].startswith("RayTaskError")
    assert manifest.finished() == {victim.id, other.id}
    # a record cut short by a crash mid-write is ignored, not fatal
    with open(manifest.path, "a") as f:
        f.write('{"job": "' + other.id + '", "status": "fa')
    assert Manifest(manifest.path).finished() == {victim.id, other.id}


def test_edit_and_texture_jobs_run_and_rerun_skips_them(tiny_bundled_prior: Path, tmp_path: Path, capsys) -> None:
    from lift3d.cli import main as cli_main
    from lift3d.pipelines.evaluate import ground_truth

    ground_truth("cube", "red").mesh(48).export(tmp_path / "cube.ply")
    tiny = ["--stage.steps", "2", "--stage.resolution", "16", "--stage.views-per-step", "1", "--turntable-frames", "2",
            "prior:bundled", "--prior.path", str(tiny_bundled_prior)]  # no --asset: texture exports its own texture
    rows = [{"command": "edit", "source": "cube.ply", "prompt": "a blue cube", "source_prompt": "a red cube",
             "mode": "appearance", "seed": 2, "args": [*tiny, "--asset.texture-size", "0"]},
            {"command": "texture", "mesh": "cube.ply", "prompt": "a green cube", "texture_size": 16, "args": tiny}]
    cfg = BatchConfig(jobs=_jsonl(tmp_path / "jobs.jsonl", rows), output=tmp_path / "out", quiet=True)
    (edit, texture), manifest = plan(cfg)
    assert (edit.kind, texture.kind) == ("edit", "texture")
    result = run_batch(cfg)
    assert (result.total, result.done, result.skipped, result.failed) == (2, 2, 0, 0)

    root = tmp_path / "out"
    latest = manifest.latest()
    for job, settings in ((edit, "edit.json"), (texture, "texture.json")):
        r = latest[job.id]
        assert r["status"] == "done" and r["kind"] == job.kind and r["spec"]["command"] == job.kind
        assert r["outputs"] == [f"jobs/{job.id}/run"] and r["error"] is None and r["attempts"] == 1
        run = root / r["outputs"][0]
        assert _steps(run) == [1, 2] and r["metrics"][0]["step"] == 2
        assert (run / settings).is_file() and any((run / "media").glob("turntable.*"))
        assert "mesh.glb" in [Path(f).name for f in r["files"]] and all((root / f).is_file() for f in r["files"])
    saved = json.loads((root / latest[edit.id]["outputs"][0] / "edit.json").read_text())["config"]
    assert (saved["mode"], saved["seed"], saved["source_prompt"]) == ("appearance", 2, "a red cube")
    assert "mesh.png" in [Path(f).name for f in latest[texture.id]["files"]]  # the painted texture
    assert json.loads((root / latest[texture.id]["outputs"][0] / "texture.json").read_text())["config"][
        "texture_size"] == 16

    before = manifest.path.read_bytes()
    again = run_batch(cfg)
    assert (again.done, again.skipped, again.failed) == (0, 2, 0)
    assert manifest.path.read_bytes() == before

    # a bad edit row (no source) refuses the whole file in one line naming the row; nothing runs
    _jsonl(tmp_path / "jobs.jsonl", [*rows, {"command": "texture", "mesh": "cube.ply", "prompt": "a blue cube",
                                             "args": tiny},
                                     {"command": "edit", "prompt": "a yellow cube", "args": tiny}])
    capsys.readouterr()
    assert cli_main(["batch", str(tmp_path / "jobs.jsonl"), "--output", str(root), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "jobs.jsonl:4: an edit job needs a source" in err
    assert manifest.path.read_bytes() == before
    assert sorted(p.name for p in (root / "jobs").iterdir()) == sorted([edit.id, texture.id])
