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

from lift3d.priors.bundled import BundledArchitecture
from lift3d.recon.data import ReconDataConfig
from lift3d.recon.train import TrainReconConfig, fit_recon
from lift3d.train.prior import TrainPriorConfig, train_prior
from lift3d.train.prior_data import PriorDataConfig

pytest.importorskip("accelerate")

DATA = ReconDataConfig(seeds_per_family=1, views=2, resolution=16, surface_points=64, families=("cube", "sphere"))


def _cfg(out: Path, steps: int, **kw) -> TrainReconConfig:
    # warm-up longer than the run: the learning rate of a step does not depend on the total steps, so a run
    # resumed with more steps takes the same steps as one that had them all along
    return TrainReconConfig(output=out, steps=steps, batch_size=4, views_per_step=2, checkpoint_every=2, lr=1e-2,
                            warmup_steps=10, data=DATA, architecture=TINY, quiet=True, threads=1, **kw)


def _prior_cfg(out: Path, steps: int, **kw) -> TrainPriorConfig:
    return TrainPriorConfig(output=out, steps=steps, batch_size=4, checkpoint_every=2, quiet=True, threads=1,
                            captions_per_label=2, lr=2e-3, warmup_steps=2, ema_decay=0.9,
                            data=PriorDataConfig(seeds_per_family=1, views_per_object=1, resolution=16),
                            architecture=BundledArchitecture(resolution=16, block_out_channels=(16, 32), text_dim=32,
                                                             text_layers=1), **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    """One DDP process: train-recon for 2 steps, then resume to 4 (saving this process's parameters and
    seed for the test); the same for train-prior."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    fit_recon(_cfg(Path(out) / "run", 2, accelerate=True))
    _, model = fit_recon(_cfg(Path(out) / "run", 4, accelerate=True, resume=True))
    torch.save({"params": model.state_dict(), "seed": torch.initial_seed()}, Path(out) / f"rank{rank}.pt")
    train_prior(_prior_cfg(Path(out) / "prior", 2, accelerate=True))
    train_prior(_prior_cfg(Path(out) / "prior", 4, accelerate=True, resume=True))


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both trainers under DDP on two CPU processes (gloo), started once for the module."""
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    return out


def test_train_recon_two_processes_match_one(ddp_runs: Path, tmp_path: Path) -> None:
    out = ddp_runs
    r0, r1 = (torch.load(out / f"rank{r}.pt") for r in (0, 1))
    assert (r0["seed"], r1["seed"]) == (0, 1)  # per-process seeding
    for k in r0["params"]:  # gradient synchronisation keeps the replicas identical
        assert torch.equal(r0["params"][k], r1["params"][k]), k

    ddp_run = out / "run"
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


def test_train_prior_two_processes_match_one(ddp_runs: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    ddp_run = ddp_runs / "prior"
    assert sorted(p.name for p in (ddp_run / "ckpt").iterdir()) == ["step_00000002", "step_00000004"]
    single_run = train_prior(_prior_cfg(tmp_path / "single", 4))
    ddp, one = _losses(ddp_run), _losses(single_run)
    assert len(ddp) == 4
    torch.testing.assert_close(torch.tensor(ddp), torch.tensor(one), rtol=1e-4, atol=1e-6)
    a = load_file(str(ddp_run / "ckpt/step_00000004/state.safetensors"))
    b = load_file(str(single_run / "ckpt/step_00000004/state.safetensors"))
    ema = [k for k in a if k.startswith("ema.unet.conv_out")]
    assert ema
    for k in ema:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5, msg=k)


def test_shard_takes_this_process_slice_of_the_global_batch() -> None:
    from types import SimpleNamespace

    from lift3d.train.distributed import Distributed

    batch = {"obj": torch.arange(6), "view": torch.arange(12).reshape(6, 2)}
    second = Distributed(SimpleNamespace(num_processes=3, process_index=1, device=torch.device("cpu")))
    part = second.shard(batch)
    assert part["obj"].tolist() == [2, 3] and part["view"].tolist() == [[4, 5], [6, 7]]
    assert Distributed().shard(batch) is batch and not second.is_main and second.world == 3
