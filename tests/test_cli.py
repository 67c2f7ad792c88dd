import subprocess
import sys

from lift3d.cli import COMMANDS, main


def test_help_lists_commands_and_imports_no_torch() -> None:
    code = "import sys; from lift3d.cli import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")  # heavy imports are deferred to the subcommand
    for c in COMMANDS:
        assert c.name in out


def test_unknown_command_is_one_line_and_nonzero(capsys) -> None:
    assert main(["nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command 'nope'" in err[0]


def test_console_script_unknown_flag_exits_nonzero() -> None:
    proc = subprocess.run([sys.executable, "-m", "lift3d.cli", COMMANDS[0].name, "--no-such-flag"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
