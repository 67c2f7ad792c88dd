"""The trainers' shared helper (lift3d.train.trainer): EMA, checkpoints, --init-from and exact resume, on a toy
regression loop written the way the four trainers use it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lift3d.train.run_config import TrainRunConfig
from lift3d.train.trainer import Ema, TrainerRun, load_folder_weights
from lift3d.types import LiftError


@dataclass(frozen=True)
class ToyConfig(TrainRunConfig):
    steps: int = 4
    checkpoint_every: int = 2
    quiet: bool = True
    init_from: Path | None = None


def _toy_train(cfg: ToyConfig, keep_last: int = 2, width: int = 3) -> Path:
    """A linear regression trained like the bundled priors (SGD with momentum, schedule, EMA, data generator)."""
    run = TrainerRun.open(cfg, "train-toy", keep_last=keep_last)
    model = torch.nn.Linear(width, 1)
    run.init_from({"model": (model, "model.safetensors")}, "a toy model folder")
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: 1.0 / (1 + s))
    ema = Ema(dict(model.named_parameters()), 0.9)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = run.restore(model=model, optim=optim, sched=sched, ema=ema, rng=gen)
    with run.progress(step) as bar:
        while step < cfg.steps:
            x = torch.randn(8, width, generator=gen)
            loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            step += 1
            ema.update(step)
            run.end_step(step, {"loss": loss.item()}, bar)
    return run.finish(lambda path: save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                             str(_mkdir(path) / "model.safetensors")))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / f"ckpt/step_{step:08d}/state.safetensors"))


def test_ema_matches_the_closed_form() -> None:
    """With the parameters held at ``p``, ``shadow_n = p + (shadow_0 - p) * prod(d_s)`` and
    ``d_s = min(decay, (1 + s) / (10 + s))``."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    ema = Ema({"w": w}, decay=0.5)
    assert ema.decay_at(1) == pytest.approx(2 / 11) and ema.decay_at(100) == 0.5
    start = w.detach().clone()
    with torch.no_grad():
        w.copy_(torch.tensor([3.0, 4.0], dtype=torch.float64))
    factor = 1.0
    for s in range(1, 21):
        ema.update(s)
        factor *= min(0.5, (1 + s) / (10 + s))
    torch.testing.assert_close(ema.shadow["w"], w.detach() + (start - w.detach()) * factor, rtol=0, atol=1e-12)
    # its checkpoint part: a copy survives later updates, and copy_to loads the average into a module
    saved = {k: v.clone() for k, v in ema.state_dict().items()}
    ema.update(21)
    ema.load_state_dict(saved)
    assert torch.equal(ema.shadow["w"], saved["w"])
    lin = torch.nn.Linear(2, 1, bias=False).double()
    Ema({"net.weight": torch.ones(1, 2, dtype=torch.float64)}, 0.9).copy_to(lin, prefix="net.")
    assert torch.equal(lin.weight.detach(), torch.ones(1, 2, dtype=torch.float64))


def test_checkpoints_every_n_and_at_the_end_keeping_the_last(tmp_path: Path) -> None:
    run = _toy_train(ToyConfig(output=tmp_path / "run", steps=7, checkpoint_every=2), keep_last=2)
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["step_00000006", "step_00000007"]
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == list(range(1, 8))
    assert set(_state(run, 7)) >= {"model.weight", "model.bias", "ema.weight", "ema.bias"}
    assert any(k.startswith("rng") for k in _state(run, 7)) and (run / "config.json").is_file()
    one = _toy_train(ToyConfig(output=tmp_path / "one", steps=4, checkpoint_every=1), keep_last=1)
    assert [p.name for p in (one / "ckpt").iterdir()] == ["step_00000004"]


def test_resume_restores_every_part_and_the_rng_exactly(tmp_path: Path) -> None:
    straight = _toy_train(ToyConfig(output=tmp_path / "a", steps=6))
    _toy_train(ToyConfig(output=tmp_path / "b", steps=2))
    # the generator state saved at step 2 is the one a reopened run continues from
    reopened = TrainerRun.open(ToyConfig(output=tmp_path / "b", steps=6, resume=True), "train-toy")
    gen = torch.Generator()
    assert reopened.restore(rng=gen) == 2
    assert torch.equal(gen.get_state(), reopened.found[1]["rng"])
    assert not torch.equal(gen.get_state(), torch.Generator().manual_seed(1).get_state())
    resumed = _toy_train(ToyConfig(output=tmp_path / "b", steps=6, resume=True))
    a, b = _state(straight, 6), _state(resumed, 6)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (straight / "metrics.jsonl").read_text() == (resumed / "metrics.jsonl").read_text()


def test_init_from_loads_an_export_and_refuses_another_architecture(tmp_path: Path) -> None:
    _toy_train(ToyConfig(output=tmp_path / "a", steps=2, export_to=tmp_path / "export"))
    exported = load_file(str(tmp_path / "export/model.safetensors"))
    # zero steps: the run's model is the folder's (seed 5 alone would build other weights)
    _toy_train(ToyConfig(output=tmp_path / "ft", steps=0, seed=5, init_from=tmp_path / "export",
                         export_to=tmp_path / "again"))
    again = load_file(str(tmp_path / "again/model.safetensors"))
    assert again.keys() == exported.keys() and all(torch.equal(again[k], v) for k, v in exported.items())
    torch.manual_seed(5)
    assert not torch.equal(torch.nn.Linear(3, 1).weight.detach(), exported["weight"])
    model = torch.nn.Linear(3, 1)
    load_folder_weights(tmp_path / "export", {"model": (model, "model.safetensors")}, "a toy model folder")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in exported.items())

    with pytest.raises(LiftError) as wrong:
        _toy_train(ToyConfig(output=tmp_path / "bad", steps=1, init_from=tmp_path / "export"), width=5)
    message = str(wrong.value)
    assert "\n" not in message
    assert message == (f"--init-from {tmp_path / 'export'}: model does not match --architecture "
                       "(0 missing, 0 unexpected, 1 mis-shaped tensors)")
    with pytest.raises(LiftError, match="no model.safetensors; pass a toy model folder"):
        _toy_train(ToyConfig(output=tmp_path / "none", steps=1, init_from=tmp_path))
    # a resumed run ignores --init-from: its checkpoint decides
    _toy_train(ToyConfig(output=tmp_path / "r", steps=2))
    run = _toy_train(ToyConfig(output=tmp_path / "r", steps=4, resume=True, init_from=tmp_path / "nothing-here"))
    assert (run / "ckpt/step_00000004").is_dir()
