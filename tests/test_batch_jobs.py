"""lift3d batch input: jobs files (.txt/.csv/.jsonl) parse into validated configs; bad input fails in one
line before any compute (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lift3d.batch.jobs import read_jobs
from lift3d.batch.resolve import resolve_jobs
from lift3d.batch.runner import BatchConfig, plan
from lift3d.cli import main as cli_main
from lift3d.types import LiftError

TINY = ("--stage.steps", "2", "--stage.resolution", "16")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_three_formats_give_the_same_text_jobs(tmp_path: Path) -> None:
    txt = _write(tmp_path / "p.txt", "# comment\na red cube\n\n  a blue sphere  \n")
    csv = _write(tmp_path / "p.csv", "prompt,seed\na red cube,\na blue sphere,\n")
    jsonl = _write(tmp_path / "p.jsonl", '{"prompt": "a red cube"}\n\n{"prompt": "a blue sphere"}\n')
    keys = [[j.key() for j in read_jobs(p)] for p in (txt, csv, jsonl)]
    assert keys[0] == keys[1] == keys[2] and len(set(keys[0])) == 2
    assert read_jobs(txt)[1].where == f"{txt}:4"


def test_resolve_applies_preset_seed_args_and_output(tmp_path: Path) -> None:
    from lift3d.rigs.gaussians import GaussianScene

    image = tmp_path / "img.png"
    image.write_bytes(b"")
    rows = [{"prompt": "a red cube", "preset": "gaussian", "seed": 7, "args": ["--stage.steps", "3"]},
            {"prompt": "a red cube"},
            {"image": "img.png", "mode": "feedforward", "args": ["--resolution", "32"]}]
    jobs = read_jobs(_write(tmp_path / "j.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    a, b, c = resolve_jobs(jobs, tmp_path / "out", shared_args=())
    assert isinstance(a.config.stage.scene, GaussianScene) and a.config.refine is not None
    assert (a.config.seed, a.config.stage.steps, a.config.prompt, a.config.quiet) == (7, 3, "a red cube", True)
    assert b.config.init.KIND == "sample-reconstruct" and b.config.refine is not None and a.id != b.id  # default: instant
    assert a.config.output == (tmp_path / "out" / "jobs" / a.id / "run").resolve()
    assert (c.kind, c.config.mode, c.config.resolution, c.config.image) == ("reconstruct", "feedforward", 32,
                                                                            image.resolve())
    (shared,) = resolve_jobs(jobs[1:2], tmp_path / "out", shared_args=TINY)
    assert (shared.config.stage.steps, shared.config.stage.resolution) == (2, 16)


@pytest.mark.parametrize("name, text, match", [
    ("p.csv", "prompt,seed\na red cube,1,2\n", r"p.csv:2: the row has a different number of fields"),
    ("p.csv", "prompt,colour\na red cube,red\n", r"p.csv:1: the header .* unknown: colour"),
    ("p.csv", "prompt,seed\na red cube,one\n", r"p.csv:2: seed must be an integer, got 'one'"),
    ("p.csv", "prompt,image\n,\n,x\n", r"p.csv:3: image .*x does not exist"),
    ("p.jsonl", '{"prompt": "a red cube"}\n{"prompt": "a cone",}\n', r"p.jsonl:2: not valid JSON"),
    ("p.jsonl", '["a red cube"]\n', r"p.jsonl:1: each line must be a JSON object"),
    ("p.jsonl", '{"prompt": "a cube", "steps": 3}\n', r"p.jsonl:1: unknown keys steps"),
    ("p.jsonl", '{"seed": 3}\n', r"p.jsonl:1: the row has neither a prompt nor an image"),
    ("p.jsonl", '{"prompt": "a cube", "preset": "nope"}\n', r"p.jsonl:1: unknown preset 'nope'; choose one of"),
    ("p.jsonl", '{"prompt": "a cube", "args": ["--stage.stepz", "3"]}\n', r"p.jsonl:1: invalid options for generate"),
    ("p.jsonl", '{"prompt": "a cube"}\n{"prompt": "a cube"}\n', r"p.jsonl:2: the same job as .*p.jsonl:1"),
    ("p.txt", "\n# nothing\n", r"p.txt has no jobs"),
    ("p.yaml", "- a cube\n", r"unknown jobs file type '.yaml'"),
])
def test_bad_jobs_fail_in_one_line(name: str, text: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(LiftError, match=match) as info:
        plan(BatchConfig(jobs=_write(tmp_path / name, text), output=tmp_path / "out"))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_cli_missing_file_and_unknown_preset_exit_nonzero_with_one_line(tmp_path: Path, capsys) -> None:
    assert cli_main(["batch", str(tmp_path / "missing.txt"), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.txt does not exist" in err
    prompts = _write(tmp_path / "p.txt", "a red cube\n")
    assert cli_main(["batch", str(prompts), "--preset", "nope", "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown preset 'nope'" in err
    assert not (tmp_path / "out").exists()
