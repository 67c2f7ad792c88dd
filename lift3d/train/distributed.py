"""Data-parallel training under ``accelerate launch`` (DDP), shared by ``train-recon`` and ``train-prior``.

The scheme: every process keeps the same data generator and draws the same *global* batch, then
trains on its own equal slice of it (:meth:`Distributed.shard`). With DDP averaging gradients, N
processes therefore take exactly the steps of one process with the same global batch (up to float
summation order), and resuming restores one generator state for all. Only the main process creates
the run folder and writes metrics and checkpoints; logged metrics are means over processes.
Without ``accelerate`` (or with one process) every method is the identity, so single-process runs are
unchanged bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.types import LiftError


@dataclass
class Distributed:
    """This process's place in a data-parallel job (``accelerator`` None: plain single process)."""

    accelerator: Any | None = None

    @classmethod
    def start(cls, use_accelerate: bool, global_batch: int) -> Distributed:
        """Create the ``accelerate.Accelerator`` (joins the process group under ``accelerate launch``)."""
        if not use_accelerate:
            return cls(None)
        import os

        from accelerate import Accelerator

        # without CUDA, cpu=True makes launched processes join one gloo group (else each trains alone)
        dist = cls(Accelerator(cpu=not torch.cuda.is_available()))
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if dist.world != launched:
            raise LiftError(f"launched {launched} processes but accelerate formed a group of {dist.world}; "
                            "check the launch command (docs/scale.md)")
        if global_batch % dist.world:
            raise LiftError(f"--batch-size {global_batch} is the global batch; it must be divisible by the "
                            f"{dist.world} processes")
        return dist

    @property
    def world(self) -> int:
        return 1 if self.accelerator is None else self.accelerator.num_processes

    @property
    def index(self) -> int:
        return 0 if self.accelerator is None else self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def main_creates(self, create: Callable[[], Any]) -> Any:
        """Run ``create`` (returning a :class:`~lift3d.runs.RunDir`) on the main process only; the others
        open the same folder once it is ready. An error on the main process stops every process."""
        from lift3d.runs import RunDir

        if self.world == 1:
            return create()
        from accelerate.utils import broadcast_object_list

        message: list[Any] = [None]
        run = error = None
        if self.is_main:
            try:
                run = create()
                message = [("ok", str(run.path))]
            except Exception as e:
                error = e
                message = [("error", f"{e}")]
        broadcast_object_list(message)
        if error is not None:
            raise error
        status, value = message[0]
        if status == "error":
            raise LiftError(f"the main process failed: {value}")
        return run if run is not None else RunDir(Path(value))

    def seed_process(self, seed: int) -> None:
        """Seed torch's global RNG per process (``seed + index``), for process-local randomness."""
        if self.world > 1:
            torch.manual_seed(seed + self.index)

    def shard(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This process's equal slice (along dim 0) of a global batch, on this process's device."""
        if self.accelerator is None:
            return batch
        device = self.accelerator.device
        return {k: v.chunk(self.world)[self.index].to(device) for k, v in batch.items()}

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Means over processes of per-process scalars (the global-batch value when slices are equal)."""
        if self.world == 1:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.accelerator.device)
        reduced = self.accelerator.reduce(t, reduction="mean")
        return dict(zip(values, reduced.tolist()))

    def wait(self) -> None:
        """Barrier: every process reaches this point before any returns."""
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


__all__ = ["Distributed"]
