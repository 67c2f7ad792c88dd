"""What the four ``lift3d train-*`` loops share: run folder, resume, ``--init-from``, EMA and checkpoints.

A trainer (text prior, novel-view prior, reward model, reconstruction model) reads::

    set_threads(cfg)                                   # before --export-only too
    run = TrainerRun.open(cfg, "train-x", dist)        # run folder, newest checkpoint, torch.manual_seed
    model = build()                                    # its random init
    run.init_from({"model": (model, "weights.safetensors")}, "an exported x folder (e.g. ...)")
    ...optimiser, schedule, data generator, Ema...
    step = run.restore(model=model, optim=optim, sched=sched, ema=ema, rng=gen)
    with run.progress(step) as bar:
        while step < cfg.steps:
            ...one optimisation step...; step += 1
            run.end_step(step, {"loss": loss}, bar)    # metrics, progress, checkpoint every N
    return run.finish(export)                          # export on the main process, then a barrier

The names given to :meth:`TrainerRun.restore` are the checkpoint's keys (``"model"``, ``"optim"``, ``"ema"``,
``"rng"``, ...), so checkpoints written before this module existed load unchanged. Resuming restores the
modules, optimiser, schedule, EMA and the data generator's state exactly; together with an identical model
init (torch's global RNG is seeded by :meth:`TrainerRun.open`) a resumed run takes bit for bit the steps of an
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lift3d.runs import RunDir
from lift3d.train.distributed import Distributed
from lift3d.train.run_config import TrainRunConfig
from lift3d.types import LiftError

Adapt = Callable[[str, dict[str, torch.Tensor], dict[str, torch.Tensor]], None]
"""``adapt(part, weights, own)``: edit a folder's ``weights`` in place before they are checked against the
module's own state dict ``own`` (e.g. widen an input layer)."""


def set_threads(cfg: TrainRunConfig) -> None:
    """Apply ``--threads`` (0 keeps torch's default)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


class Ema:
    """Exponential moving average of named parameters, with the bundled priors' warm-up.

    After step ``s`` (counting from 1) ``shadow <- d * shadow + (1 - d) * params`` with
    ``d = min(decay, (1 + s) / (10 + s))``, so early averages are not dominated by the random init.
    ``state_dict``/``load_state_dict`` make it a checkpoint part (the shadow tensors, keyed like ``params``).
    """

    def __init__(self, params: Mapping[str, torch.Tensor], decay: float) -> None:
        self.params, self.decay = dict(params), decay
        self.shadow = {k: p.detach().clone() for k, p in self.params.items()}

    def decay_at(self, step: int) -> float:
        """The decay used by :meth:`update` after ``step``."""
        return min(self.decay, (1 + step) / (10 + step))

    def update(self, step: int) -> None:
        """Average the current parameters in, in place (call after optimiser step ``step``)."""
        d = self.decay_at(step)
        with torch.no_grad():
            for k, p in self.params.items():
                self.shadow[k].lerp_(p.detach(), 1.0 - d)

    def to(self, device: torch.device | str) -> Ema:
        """Move the shadow to ``device`` (where the parameters train)."""
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}

    def copy_to(self, module: torch.nn.Module, prefix: str = "") -> None:
        """Load the averaged weights whose names start with ``prefix`` (stripped) into ``module``."""
        copy_prefixed(module, self.shadow, prefix)


def copy_prefixed(module: torch.nn.Module, state: Mapping[str, torch.Tensor], prefix: str = "") -> None:
    """``module.load_state_dict`` of the entries of ``state`` under ``prefix`` (strict, moved to the CPU)."""
    module.load_state_dict({k[len(prefix):]: v.cpu() for k, v in state.items() if k.startswith(prefix)})


def load_folder_weights(folder: Path, parts: Mapping[str, tuple[torch.nn.Module, str]], what: str,
                        adapt: Adapt | None = None) -> None:
    """Load the safetensors files of an exported model ``folder`` into fresh modules (``--init-from``).

    ``parts`` maps a name to (module, file relative to ``folder``); ``what`` names the folder expected, for
    the error (e.g. ``"an exported text prior folder (e.g. lift3d/assets/prior-text32)"``). Every parameter
    must be in the file with its shape and the file must hold nothing else; buffers a file leaves out (as
    transformers does with ``position_ids``) keep their built values. A missing file or a mismatch is a
    one-line :class:`~lift3d.types.LiftError`. Read with safetensors, never unpickled.
    """
    from safetensors.torch import load_file

    for name, (module, rel) in parts.items():
        path = folder / rel
        if not path.is_file():
            raise LiftError(f"--init-from {folder}: no {rel}; pass {what}")
        weights, own = load_file(str(path)), module.state_dict()
        if adapt is not None:
            adapt(name, weights, own)
        missing = [k for k, _ in module.named_parameters() if k not in weights]
        unexpected = [k for k in weights if k not in own]
        wrong = [k for k, v in weights.items() if k in own and own[k].shape != v.shape]
        if missing or unexpected or wrong:
            raise LiftError(f"--init-from {folder}: {name} does not match --architecture ({len(missing)} missing, "
                            f"{len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors)")
        module.load_state_dict(weights, strict=False)


@dataclass
class TrainerRun:
    """One training run: its folder, this process's place in the job, the newest checkpoint and the parts
    (modules, optimiser, schedule, :class:`Ema`, data generator) that a checkpoint saves and restores."""

    cfg: TrainRunConfig
    name: str
    run: RunDir
    dist: Distributed
    found: tuple[int, dict[str, Any]] | None
    """(step, state) of the newest valid checkpoint; None for a fresh run."""
    keep_last: int = 2
    """Newest checkpoints kept in the run folder."""
    parts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, cfg: TrainRunConfig, name: str, dist: Distributed | None = None,
             prepare: Callable[[RunDir], None] | None = None, keep_last: int = 2) -> TrainerRun:
        """Create (or, with ``--resume``, reopen) the run folder ``cfg.output`` (default ``outputs/<name>/...``),
        find its newest checkpoint and seed torch's global RNG with ``cfg.seed`` for the model's init.

        Only the main process creates the folder and runs ``prepare(run)`` (e.g. render a data cache that the
        other processes then read); an error there stops every process.
        """
        dist = dist or Distributed()

        def create() -> RunDir:
            run = RunDir.create(cfg.output, name=name, resume=cfg.resume, overwrite=cfg.overwrite)
            if prepare is not None:
                prepare(run)
            return run

        run = dist.main_creates(create)
        found = run.latest()
        torch.manual_seed(cfg.seed)
        return cls(cfg, name, run, dist, found, keep_last)

    @property
    def path(self) -> Path:
        return self.run.path

    def init_from(self, parts: Mapping[str, tuple[torch.nn.Module, str]], what: str,
                  adapt: Adapt | None = None) -> None:
        """``--init-from``: load the folder's weights into ``parts`` (:func:`load_folder_weights`), unless the
        option is unset or the run resumes (its checkpoint decides then)."""
        folder = getattr(self.cfg, "init_from", None)
        if folder is not None and self.found is None:
            load_folder_weights(Path(folder), parts, what, adapt)

    def restore(self, **parts: Any) -> int:
        """Register the checkpoint's parts by key and return the step to start from.

        A part has ``state_dict``/``load_state_dict`` (module, optimiser, schedule, :class:`Ema`) or is a
        ``torch.Generator`` (its state is saved). Resuming loads every part from the newest checkpoint and
        drops the metrics logged after it; a fresh run writes the run's metadata (config, command, env).
        """
        self.parts = parts
        if self.found is None:
            if self.dist.is_main:
                self.run.write_metadata(self.cfg, seed=self.cfg.seed)
            return 0
        step, state = self.found
        for key, part in parts.items():
            if isinstance(part, torch.Generator):
                part.set_state(state[key])
            else:
                part.load_state_dict(state[key])
        if self.dist.is_main:
            self.run.rewind_metrics(step)
        return step

    def state(self) -> dict[str, Any]:
        """The checkpoint of the registered parts, keyed as given to :meth:`restore`."""
        return {k: p.get_state() if isinstance(p, torch.Generator) else p.state_dict() for k, p in self.parts.items()}

    @contextmanager
    def progress(self, step: int) -> Iterator[Any]:
        """The run's progress bar, resumed at ``step`` (silent with ``--quiet`` and off the main process)."""
        from lift3d.progress import progress_bar

        with progress_bar(self.name, self.cfg.steps, completed=step, quiet=self.cfg.quiet or not self.dist.is_main) as bar:
            yield bar

    def end_step(self, step: int, metrics: Mapping[str, float], bar: Any, show: tuple[str, ...] = ("loss",)) -> None:
        """After optimiser step ``step`` (main process only): log ``metrics``, advance ``bar`` showing ``show``,
        and checkpoint every ``checkpoint_every`` steps and at the last one, keeping the ``keep_last`` newest."""
        if not self.dist.is_main:
            return
        self.run.log_metrics(step, **metrics)
        bar.update(1, **{k: metrics[k] for k in show})
        if step % self.cfg.checkpoint_every == 0 or step == self.cfg.steps:
            self.run.save(step, self.state(), keep_last=self.keep_last)

    def finish(self, export: Callable[[Path], Any] | None = None) -> Path:
        """``export(cfg.export_to)`` on the main process (when ``--export-to`` is set), wait for every process
        and return the run folder."""
        if export is not None and self.cfg.export_to is not None and self.dist.is_main:
            export(Path(self.cfg.export_to))
        self.dist.wait()
        return self.run.path


__all__ = ["Ema", "TrainerRun", "copy_prefixed", "load_folder_weights", "set_threads"]
