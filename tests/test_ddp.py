"""Data-parallel training with accelerate on two CPU processes (gloo): parameters stay identical across
processes, and the losses and weights match one process with the same global batch, through a resume."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_recon_model import TINY

from lift3d.recon.data import ReconDataConfig
from lift3d.recon.train import TrainReconConfig, fit_recon

pytest.importorskip("accelerate")

DATA = ReconDataConfig(seeds_per_family=1, views=2, resolution=16, surface_points=64, families=("cube", "sphere"))


def _cfg(out: Path, steps: int, **kw) -> TrainReconConfig:
    # warm-up longer than the run: the learning rate of a step does not depend on the total steps, so a run
    # resumed with more steps takes the same steps as one that had them all along
    return TrainReconConfig(output=out, steps=steps, batch_size=4, views_per_step=2, checkpoint_every=2, lr=1e-2,
                            warmup_steps=10, data=DATA, architecture=TINY, quiet=True, threads=1, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recon_worker(rank: int, world: int, port: int, out: str) -> None:
    """One DDP process: 2 steps, then resume to 4; saves its own parameters and seed for the test."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world), ACCELERATE_USE_CPU="true")
    torch.set_num_threads(1)
    fit_recon(_cfg(Path(out) / "run", 2, accelerate=True))
    _, model = fit_recon(_cfg(Path(out) / "run", 4, accelerate=True, resume=True))
    torch.save({"params": model.state_dict(), "seed": torch.initial_seed()}, Path(out) / f"rank{rank}.pt")


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_process_ddp_matches_one_process(tmp_path: Path) -> None:
    mp.start_processes(_recon_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert (r0["seed"], r1["seed"]) == (0, 1)  # per-process seeding
    for k in r0["params"]:  # gradient synchronisation keeps the replicas identical
        assert torch.equal(r0["params"][k], r1["params"][k]), k

    ddp_run = tmp_path / "run"
    assert sorted(p.name for p in (ddp_run / "ckpt").iterdir()) == ["step_00000002", "step_00000004"]
    single_run, single = fit_recon(_cfg(tmp_path / "single", 4))
    ddp, one = _losses(ddp_run), _losses(single_run)
    assert len(ddp) == 4  # one writer: each step logged once, resume rewound nothing twice
    torch.testing.assert_close(torch.tensor(ddp), torch.tensor(one), rtol=1e-4, atol=1e-6)
    assert one[-1] < one[0]  # it trained (the comparison is not between two untouched models)
    # the same function as the one-process model (raw weights can differ where the gradient is exactly zero
    # in theory, e.g. attention key biases, and Adam normalises float noise into full-size steps)
    replica = TINY.build()
    replica.load_state_dict(r0["params"])
    x = torch.rand(2, 16, 16, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = replica(x), single(x)
    for name in ("coarse", "points"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-3, atol=1e-5, msg=name)
