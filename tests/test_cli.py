import re
import subprocess
import sys
from pathlib import Path

import pytest

from lift3d.cli import COMMANDS, main
from lift3d.errors import usage_error_line, with_positional, write_crash_log


def _replace_run(monkeypatch, name: str, run) -> None:
    """Make ``lift3d NAME`` call ``run(argv)`` instead of its subcommand."""
    command = next(c for c in COMMANDS if c.name == name)
    monkeypatch.setattr(type(command), "run", lambda self, argv: run(argv) if self.name == name else None)


def test_help_lists_commands_and_imports_no_torch() -> None:
    code = ("import sys; import lift3d.errors; from lift3d.cli import main; main(['--help']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")  # heavy imports are deferred to the subcommand
    for c in COMMANDS:
        assert c.name in out


def test_unknown_command_is_one_line_and_nonzero(capsys) -> None:
    assert main(["nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command 'nope'" in err[0]


def test_console_script_unknown_flag_is_short() -> None:
    proc = subprocess.run([sys.executable, "-m", "lift3d.cli", COMMANDS[0].name, "--no-such-flag"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and "--no-such-flag" in proc.stderr


def _boom(argv: list[str]) -> None:
    raise RuntimeError("the renderer\nfell over")


def test_unexpected_error_is_one_line_with_a_log(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("LIFT3D_LOG_DIR", str(tmp_path / "logs"))
    _replace_run(monkeypatch, "eval", _boom)
    assert main(["eval", "some run"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err + captured.out
    assert err[0].startswith("lift3d eval: error: RuntimeError: the renderer fell over (full traceback in ")
    log = Path(re.search(r"full traceback in (\S+\.log)", err[0]).group(1))
    assert log.parent == tmp_path / "logs" and log.name.startswith("lift3d-error-")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in _boom" in text and "RuntimeError: the renderer" in text
    assert "lift3d eval 'some run'" in text  # the command line, quoted as typed


def test_two_crashes_in_one_second_get_two_logs(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LIFT3D_LOG_DIR", str(tmp_path))
    paths = {write_crash_log("eval", [], ValueError(str(i))) for i in range(3)}
    assert len(paths) == 3 and all(p.is_file() for p in paths)


def test_crash_log_falls_back_to_the_temp_folder(monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.delenv("LIFT3D_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # lift3d/logs cannot be made under a file
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = write_crash_log("generate", ["a chair"], RuntimeError("x"))
    assert path is not None and path.parent == tmp_path / "tmp" / "lift3d-logs"


def test_system_exit_with_a_message_is_one_line(monkeypatch, capsys) -> None:
    def stop(argv: list[str]) -> None:
        raise SystemExit("cannot go on")

    _replace_run(monkeypatch, "eval", stop)
    assert main(["eval"]) == 1
    assert capsys.readouterr().err.strip() == "lift3d eval: error: cannot go on"


@pytest.fixture
def generated(monkeypatch) -> list:
    """Configs ``lift3d generate`` would run (parsed by the real parser; nothing is optimized)."""
    import lift3d.pipelines.generate as generate

    seen: list = []
    monkeypatch.setattr(generate, "generate", lambda cfg: seen.append(cfg) or [])
    return seen


@pytest.mark.parametrize("after, before", [
    (["a chair", "prior:stable-diffusion", "--output", "x"], ["a chair", "--output", "x", "prior:stable-diffusion"]),
    (["prior:stable-diffusion", "a chair", "--output", "x"],
     ["--prompt", "a chair", "--output", "x", "prior:stable-diffusion"]),
    (["a chair", "stage.guidance:vsd", "--stage.steps", "5", "refine:stage", "--refine.steps", "3", "--seed", "2"],
     ["a chair", "--stage.steps", "5", "--seed", "2", "stage.guidance:vsd", "refine:stage", "--refine.steps", "3"]),
    (["--preset=dreamfusion", "a chair", "perp-neg:perp-neg", "--perp-neg.negative-weight", "-1", "--quiet"],
     ["--preset", "dreamfusion", "a chair", "--quiet", "perp-neg:perp-neg", "--perp-neg.negative-weight", "-1"]),
])
def test_generate_options_may_follow_subcommands(generated, after, before) -> None:
    assert main(["generate", *after]) == 0
    assert main(["generate", *before]) == 0
    assert len(generated) == 2 and generated[0] == generated[1]
    assert generated[0].prompt == "a chair"


def test_generate_options_after_subcommands_take_effect(generated) -> None:
    assert main(["generate", "a chair", "prior:stable-diffusion", "--output", "x", "--seed", "3"]) == 0
    cfg = generated[0]
    assert type(cfg.prior).__name__ == "StableDiffusionConfig" and str(cfg.output) == "x" and cfg.seed == 3


def test_reconstruct_options_may_follow_subcommands(monkeypatch) -> None:
    import lift3d.pipelines.reconstruct as reconstruct

    seen: list = []
    monkeypatch.setattr(reconstruct, "reconstruct", lambda cfg: seen.append(cfg) or "run")
    assert main(["reconstruct", "img.png", "prior:bundled", "--prompt", "a cube", "--seed", "3"]) == 0
    assert main(["reconstruct", "--image", "img.png", "--prompt", "a cube", "--seed", "3", "prior:bundled"]) == 0
    assert main(["reconstruct", "prior:bundled", "img.png", "--prompt", "a cube", "--seed", "3"]) == 0
    assert seen[0] == seen[1] == seen[2] and str(seen[0].image) == "img.png" and seen[0].seed == 3


@pytest.mark.parametrize("args, named", [
    (["a chair", "--no-such-flag"], "--no-such-flag"),
    (["a chair", "prior:stable-diffusion", "--ouput", "x"], "--output?"),  # suggests the flag it resembles
    (["a chair", "--seed", "abc"], "--seed"),
    (["a chair", "prior:no-such-prior"], "prior:no-such-prior"),
    (["a chair", "init:file", "--init.axes", "sideways"], "'sideways'"),
])
def test_usage_errors_are_short(generated, capsys, args, named) -> None:
    assert main(["generate", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) <= 3 and named in captured.err and "'lift3d generate --help' lists the options" in captured.err
    assert "Traceback" not in captured.err and not generated


def test_help_is_unaffected(generated, capsys) -> None:
    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lift3d generate") and "--output" in out and "prior:stable-diffusion" in out
    assert main(["generate", "prior:stable-diffusion", "--help"]) == 0
    assert "--prior.model" in capsys.readouterr().out


def test_usage_error_line_condenses_a_box() -> None:
    box = """\
╭─ Required options ──────────────────╮
│ Missing from lift3d view:           │
│     --path PATH                     │
│         A run folder, or a file.    │
│         (required)                  │
│ ─────────────────────────────────── │
│ Unrecognized options:               │
│     2                               │
│ ─────────────────────────────────── │
│ For full helptext, run:             │
│     lift3d view --help              │
╰─────────────────────────────────────╯
"""
    assert usage_error_line("lift3d view", box) == ("lift3d view: error: missing from lift3d view: --path PATH; "
                                                    "unrecognized options: 2; 'lift3d view --help' lists the options")
    ascii_box = """\
 Value error
 -------------------------------------------------------------------
  Error parsing --port: invalid literal for int() with base 10: 'x'
  -------------------------------------------------------------------
  Argument helptext:
      --port INT
  -------------------------------------------------------------------
  For full helptext, see lift3d view --help

"""  # tyro's drawing when stdout is not UTF-8
    assert usage_error_line("lift3d view", ascii_box) == ("lift3d view: error: bad value for --port: invalid literal for "
                                                          "int() with base 10: 'x'; 'lift3d view --help' lists the options")
    plain = "usage: x [-h]\nx: error: argument --seed: invalid int value: 'a'\n"
    assert usage_error_line("x", plain) == "x: error: argument --seed: invalid int value: 'a'; 'x --help' lists the options"


def test_positional_argument_may_follow_subcommand_selectors() -> None:
    assert with_positional(["a chair", "--seed", "1"], "--prompt") == ["--prompt", "a chair", "--seed", "1"]
    assert with_positional(["prior:bundled", "a chair"], "--prompt") == ["prior:bundled", "--prompt", "a chair"]
    assert with_positional(["--seed", "1", "a chair"], "--prompt") == ["--seed", "1", "a chair"]
    assert with_positional(["x", "--prompt=a chair"], "--prompt") == ["x", "--prompt=a chair"]
    assert with_positional(["stage.guidance:vsd", "--help"], "--prompt") == ["stage.guidance:vsd", "--help"]
