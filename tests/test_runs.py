"""Run folders, atomic checkpoints and bit-identical resume."""

import json
import os
from pathlib import Path

import pytest
import torch

from lift3d import runs
from lift3d.runs import RunDir, load_checkpoint
from lift3d.types import LiftError


def _make(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    return model, opt, gen


def _step(model, opt, gen) -> float:
    x = torch.randn(32, 3, generator=gen)
    y = (x**2).sum(-1, keepdim=True) + 0.1 * torch.randn(32, 1, generator=gen)
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def _state(model, opt, gen) -> dict:
    return {"model": model.state_dict(), "optim": opt.state_dict(), "rng": gen.get_state()}


def _restore(state, model, opt, gen) -> None:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    gen.set_state(state["rng"])


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    model, opt, gen = _make()
    losses = [_step(model, opt, gen) for _ in range(20)]
    reference = [p.detach().clone() for p in model.parameters()]

    run = RunDir.create(tmp_path / "run")
    model, opt, gen = _make()
    first = [_step(model, opt, gen) for _ in range(10)]
    run.save(10, _state(model, opt, gen))
    del model, opt, gen

    resumed = RunDir.create(tmp_path / "run", resume=True)
    step, state = resumed.latest()
    model, opt, gen = _make(seed=123)  # different init: everything must come from the checkpoint
    _restore(state, model, opt, gen)
    assert step == 10
    second = [_step(model, opt, gen) for _ in range(10)]
    assert first + second == losses
    for p, q in zip(model.parameters(), reference):
        assert torch.equal(p, q)


def test_interrupted_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir.create(tmp_path / "run")
    run.save(5, {"w": torch.ones(3), "lr": 0.1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs, "save_file", boom)
    with pytest.raises(OSError):
        run.save(6, {"w": torch.zeros(3), "lr": 0.2})
    monkeypatch.undo()
    step, state = run.latest()
    assert step == 5 and torch.equal(state["w"], torch.ones(3)) and state["lr"] == 0.1


def test_corrupt_newest_checkpoint_falls_back_and_names_the_file(tmp_path: Path, capsys) -> None:
    run = RunDir.create(tmp_path / "run")
    run.save(1, {"w": torch.arange(4.0)})
    path = run.save(2, {"w": torch.arange(4.0) * 2})
    data = (path / "state.safetensors").read_bytes()
    (path / "state.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(LiftError, match=r"state.safetensors are missing, truncated or corrupt"):
        load_checkpoint(path)
    step, state = run.latest()
    assert step == 1 and torch.equal(state["w"], torch.arange(4.0))
    assert "skipping" in capsys.readouterr().err


def test_keep_last_and_nested_state_round_trip(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    state = {"a": (1, 2.5, "x", None, [torch.ones(2)]), "b": {3: {"m": torch.zeros(1)}}, "flag": True}
    for s in (1, 2, 3):
        run.save(s, state, keep_last=2)
    names = sorted(p.name for p in run.ckpt_dir.iterdir())
    assert names == ["step_00000002", "step_00000003"]
    step, back = load_checkpoint(run.ckpt_dir / "step_00000003")
    assert back["a"][:4] == (1, 2.5, "x", None) and torch.equal(back["a"][4][0], torch.ones(2))
    assert list(back["b"]) == [3] and back["flag"] is True


def test_existing_folder_needs_resume_or_overwrite(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    run.save(1, {"w": torch.ones(1)})
    with pytest.raises(LiftError, match="--resume .* --overwrite"):
        RunDir.create(tmp_path / "run")
    assert (run.ckpt_dir / "step_00000001").exists()  # nothing lost
    fresh = RunDir.create(tmp_path / "run", overwrite=True)
    assert fresh.latest() is None
    with pytest.raises(LiftError, match="nothing to resume"):
        RunDir.create(name="x", root=tmp_path / "none", resume=True)
    with pytest.raises(LiftError, match="exclude"):
        RunDir.create(tmp_path / "run", resume=True, overwrite=True)


def test_unwritable_output(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/lift3d-cannot-write/run")  # even root cannot create folders in /proc
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "run"
    with pytest.raises(LiftError, match="cannot write .* choose another output folder"):
        RunDir.create(target)


def test_unwritable_output_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(LiftError, match="is a file|cannot write"):
        RunDir.create(tmp_path / "f")
    with pytest.raises(LiftError, match="cannot write"):
        RunDir.create(tmp_path / "f" / "sub")


def test_metadata_and_metrics(tmp_path: Path) -> None:
    from test_config import TopConfig

    run = RunDir.create(name="demo", root=tmp_path)
    assert run.path.parent == tmp_path / "demo"
    run.write_metadata(TopConfig(), command=["lift3d", "x"], seed=7)
    env = json.loads((run.path / "env.json").read_text())
    assert env["seed"] == 7 and env["versions"]["torch"].startswith("2.")
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: the first model name, then torch's vector ISA
        name = next(x.split(":", 1)[1].strip() for x in cpuinfo.read_text().splitlines() if x.startswith("model name"))
        assert env["cpu"] == f"{name} ({torch.backends.cpu.get_cpu_capability()})"
    else:
        assert env["cpu"]
    assert (run.path / "command.txt").read_text() == "lift3d x\n"
    for s in range(5):
        run.log_metrics(s, loss=s * 0.5)
    run.rewind_metrics(2)
    lines = [json.loads(x) for x in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [0, 1, 2]
    again = RunDir.create(name="demo", root=tmp_path, resume=True)
    assert again.path == run.path
