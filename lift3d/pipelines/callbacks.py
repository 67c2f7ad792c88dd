"""What happens after each step of :func:`lift3d.pipelines.optimize.optimize` in a run: metrics, the progress bar,
the live viewer, atomic checkpoints (state gathered from the objects that own it), validation renders, and the
final size normalization. Each is a small callable over a :class:`~lift3d.pipelines.optimize.Step`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lift3d.pipelines.optimize import Step


@dataclass
class MetricsLog:
    """One metrics.jsonl line per step, at the run's global step (``offset`` + the stage's step)."""

    run: Any
    offset: int

    def __call__(self, s: Step) -> None:
        self.run.log_metrics(self.offset + s.step, **s.metrics)


@dataclass
class Progress:
    """Advance a :func:`lift3d.progress.progress_bar` by one step."""

    bar: Any

    def __call__(self, s: Step) -> None:
        self.bar.update(1, loss=s.metrics["loss"])


@dataclass
class LiveView:
    """Publish the step to a live viewer (:class:`lift3d.viewer.live.LiveState`)."""

    live: Any
    stage: int
    offset: int

    def __call__(self, s: Step) -> None:
        self.live.publish(self.stage, self.offset + s.step, s.metrics["loss"], s.rig)


@dataclass
class FinalSize:
    """At the run's last step, the move that centres the result and scales its largest side to ``extent``
    (:mod:`lift3d.pipelines.normalize_size`): computed (and logged) before the checkpoint, which keeps the scene
    as optimized with the move next to it, and applied after it (:meth:`apply`)."""

    extent: float
    move: torch.Tensor | None = None

    def __call__(self, s: Step) -> None:
        if s.step != s.steps:
            return
        from lift3d.pipelines.normalize_size import size_move

        self.move = size_move(s.rig, self.extent)
        if self.move is None:
            print("warning: the result is invisible from every view; its size was not normalized", file=sys.stderr)
            return
        s.metrics.update(normalize_factor=float(self.move[3]),
                         **{f"normalize_centre_{a}": float(c) for a, c in zip("xyz", self.move[:3])})

    def state(self) -> dict[str, Any]:
        return {} if self.move is None else {"normalize": self.move}

    def apply(self, s: Step) -> None:
        if self.move is not None and s.step == s.steps:
            from lift3d.pipelines.normalize_size import apply_move

            apply_move(s.rig, self.move)


@dataclass
class Checkpoints:
    """An atomic checkpoint every ``every`` steps and at the last: ``gather()`` collects the state from the objects
    that own it (rig, guidance, terms, generator, size move)."""

    run: Any
    offset: int
    every: int
    gather: Callable[[Step], dict[str, Any]]

    def __call__(self, s: Step) -> None:
        if s.step % self.every == 0 or s.step == s.steps:
            self.run.save(self.offset + s.step, self.gather(s))


@dataclass
class Validation:
    """A validation grid every ``every`` steps and at the last."""

    run: Any
    offset: int
    every: int
    stage: Any

    def __call__(self, s: Step) -> None:
        if s.step % self.every == 0 or s.step == s.steps:
            from lift3d.pipelines.outputs import save_validation

            save_validation(s.rig, self.run, self.offset + s.step, self.stage)
