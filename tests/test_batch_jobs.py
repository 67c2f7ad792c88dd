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
    ("p.jsonl", '{"command": "edit", "prompt": "a blue cube"}\n',
     r"p.jsonl:1: an edit job needs a source .*; this row has no source$"),
    ("p.jsonl", '{"command": "edit", "source": "run"}\n', r"p.jsonl:1: an edit job needs .*; this row has no prompt$"),
    ("p.jsonl", '{"command": "edit", "source": "gone.ply", "prompt": "a blue cube"}\n',
     r"p.jsonl:1: source .*gone.ply does not exist"),
    ("p.jsonl", '{"command": "edit", "source": "a.ply", "prompt": "a blue cube", "image": "a.png"}\n',
     r"p.jsonl:1: an edit job takes source, prompt, source_prompt, mode, seed \(and args\), not image"),
    ("p.jsonl", '{"command": "texture", "mesh": "gone.glb", "prompt": "a red cube"}\n',
     r"p.jsonl:1: mesh .*gone.glb does not exist"),
    ("p.jsonl", '{"command": "texture", "prompt": "a red cube"}\n', r"p.jsonl:1: a texture job needs a mesh"),
    ("p.jsonl", '{"command": "paint", "prompt": "a red cube"}\n', r"p.jsonl:1: unknown command 'paint'"),
    ("p.jsonl", '{"prompt": "a red cube", "mesh": "m.glb"}\n', r"p.jsonl:1: mesh belongs to texture jobs"),
    ("p.jsonl", '{"command": "reconstruct", "prompt": "a red cube"}\n', r"p.jsonl:1: a reconstruct job needs an image"),
    ("p.csv", "command,mesh,prompt,texture_size\ntexture,m.glb,a red cube,big\n",
     r"p.csv:2: texture_size must be an integer, got 'big'"),
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


def _cube(path: Path) -> Path:
    from lift3d.pipelines.evaluate import ground_truth

    ground_truth("cube", "red").mesh(48).export(path)
    return path


def test_edit_and_texture_rows_resolve_and_old_ids_are_kept(tmp_path: Path) -> None:
    from lift3d.batch.jobs import EditJob, Job, TextureJob
    from lift3d.pipelines.edit import EditConfig
    from lift3d.pipelines.texture import TextureConfig

    cube = _cube(tmp_path / "cube.ply")
    rows = [{"command": "edit", "source": "cube.ply", "prompt": "a blue cube", "source_prompt": "a red cube",
             "mode": "appearance", "seed": 4, "args": ["--stage.steps", "3"]},
            {"command": "texture", "mesh": "cube.ply", "prompt": "a red cube", "texture_size": 64},
            {"prompt": "a red cube"},
            {"command": "generate", "prompt": "a red cube", "preset": "gaussian", "seed": 7,
             "args": ["--stage.steps", "3"]}]
    jobs = read_jobs(_write(tmp_path / "j.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    assert [type(j) for j in jobs] == [EditJob, TextureJob, Job, Job]
    # rows without edit/texture keep the ids they had (manifests of earlier batches still resume)
    assert [j.key() for j in jobs[2:]] == ["a_red_cube-60dedb9702", "a_red_cube-1d111db17d"]
    e, t, g, _ = resolve_jobs(jobs, tmp_path / "out", shared_args=TINY)
    assert isinstance(e.config, EditConfig) and isinstance(t.config, TextureConfig)
    assert (e.kind, e.spec["command"], t.kind, g.kind) == ("edit", "edit", "texture", "generate")
    assert e.id.startswith("edit_a_blue_cube-") and t.id.startswith("texture_a_red_cube-") and t.id != g.id
    c = e.config
    assert (c.source, c.prompt, c.source_prompt, c.mode, c.seed, c.quiet) == (cube.resolve(), "a blue cube",
                                                                            "a red cube", "appearance", 4, True)
    assert (c.stage.steps, c.stage.resolution) == (3, 16)  # the shared options, then the row's args
    assert c.output == (tmp_path / "out" / "jobs" / e.id / "run").resolve()
    c = t.config
    assert (c.mesh, c.prompt, c.texture_size, c.seed, c.stage.steps) == (cube.resolve(), "a red cube", 64, 0, 2)
    assert c.output == (tmp_path / "out" / "jobs" / t.id / "run").resolve()
    # the same jobs from a CSV with a command column get the same ids
    csv = _write(tmp_path / "j.csv", "command,source,mesh,prompt,source_prompt,mode,texture_size\n"
                                     "edit,cube.ply,,a blue cube,a red cube,appearance,\n"
                                     "texture,,cube.ply,a red cube,,,64\n")
    jsonl = _write(tmp_path / "k.jsonl", "".join(json.dumps({k: v for k, v in r.items() if k != "args" and k != "seed"})
                                                 + "\n" for r in rows[:2]))
    assert [j.key() for j in read_jobs(csv)] == [j.key() for j in read_jobs(jsonl)]


@pytest.mark.parametrize("row, match", [
    ({"mode": "geometry"}, r"unknown mode 'geometry'; choose geometry\+appearance or appearance"),
    ({"source_prompt": None}, r"source .*cube.ply is a file, which carries no prompt; give the row a source_prompt"),
    ({"source_prompt": "A Blue Cube"}, r"the target prompt is the source prompt"),
    ({"source": "j.jsonl"}, r"source .*j.jsonl is not an asset lift3d edits"),
    ({"args": ["--min-faces", "-1"]}, r"--min-faces must be >= 0"),
])
def test_bad_edit_rows_fail_in_one_line(row: dict, match: str, tmp_path: Path) -> None:
    _cube(tmp_path / "cube.ply")
    edit = {"command": "edit", "source": "cube.ply", "prompt": "a blue cube", "source_prompt": "a red cube", **row}
    jobs = _write(tmp_path / "j.jsonl", json.dumps({"prompt": "a red cube"}) + "\n" + json.dumps(
        {k: v for k, v in edit.items() if v is not None}) + "\n")
    with pytest.raises(LiftError, match=r"j.jsonl:2: " + match) as info:
        plan(BatchConfig(jobs=jobs, output=tmp_path / "out"))
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("row, match", [
    ({"texture_size": 2}, r"texture_size 2 is too small"),
    ({"args": ["stage.guidance:dds"]}, r"DDS compares with a source scene"),
    ({"args": ["--stage.stepz", "3"]}, r"invalid options for texture: --stage.stepz 3"),
])
def test_bad_texture_rows_fail_in_one_line(row: dict, match: str, tmp_path: Path) -> None:
    _cube(tmp_path / "cube.ply")
    jobs = _write(tmp_path / "j.jsonl", json.dumps({"command": "texture", "mesh": "cube.ply", "prompt": "a red cube",
                                                    **row}) + "\n")
    with pytest.raises(LiftError, match=r"j.jsonl:1: " + match) as info:
        plan(BatchConfig(jobs=jobs, output=tmp_path / "out"))
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def test_cli_refuses_a_bad_edit_row_in_one_line_before_running_anything(tmp_path: Path, capsys) -> None:
    _cube(tmp_path / "cube.ply")
    rows = [{"command": "texture", "mesh": "cube.ply", "prompt": "a red cube", "args": list(TINY)},
            {"command": "edit", "prompt": "a blue cube", "source_prompt": "a red cube"}]
    jobs = _write(tmp_path / "j.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["batch", str(jobs), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "j.jsonl:2: an edit job needs a source" in err and "no source" in err
    assert not (tmp_path / "out").exists()
