"""The one optimization loop of lift3d: ``generate``'s stages, ``reconstruct``'s optimization modes and the
``playground`` all run :func:`optimize`.

Per step: sample cameras -> render the rig -> guidance loss from the frozen prior (with the terms' extra
conditions) + the rig's regularizers + the terms' losses -> one optimizer step -> the guidance's own update ->
callbacks (metrics, progress, live viewer, checkpoints, validation). New behaviour enters through typed
extension points (a :class:`~lift3d.rigs.base.Rig`, a guidance, :class:`~lift3d.pipelines.terms.base.Term`\\ s,
callbacks), never as a branch in this loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from lift3d.cameras import Cameras
from lift3d.pipelines.terms.base import Term
from lift3d.sampling import OrbitSampler


@dataclass(frozen=True)
class Views:
    """The views a loop renders each step (none when ``per_step`` is 0: terms alone drive it)."""

    sampler: OrbitSampler
    per_step: int
    resolution: int
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    group: int = 1
    """Consecutive views that form one multi-view sample (MVDream's 4)."""


@dataclass
class Step:
    """What the callbacks see after a step."""

    step: int
    """Steps done in this loop (1-based after the first step)."""
    steps: int
    loss: torch.Tensor
    losses: dict[str, torch.Tensor]
    logs: dict[str, float]
    rig: Any
    metrics: dict[str, float] = field(default_factory=dict)
    """Filled by the loop: ``loss``, each loss term and the guidance's logs, as floats (callbacks may add)."""


class Callback(Protocol):
    def __call__(self, step: Step) -> None: ...


@dataclass
class Guided:
    """A guidance, the prompt embeddings (or reference conditions) it reads, and its weight in the loss."""

    guidance: Any
    prompts: Any
    weight: float = 1.0
    perp_neg: Any = None


def optimize(rig: Any, guided: Guided | None, views: Views, terms: Sequence[Term], generator: torch.Generator,
             start: int, steps: int, callbacks: Sequence[Callback | Callable[[Step], None]] = ()) -> None:
    """Optimize ``rig`` from step ``start`` to ``steps``; all randomness comes from ``generator``."""
    device = rig.scene_device
    for step in range(start, steps):
        rig.before_step(step, generator)
        cams = out = None
        losses: dict[str, torch.Tensor] = {}
        if views.per_step > 0:
            cams = views.sampler.sample(views.per_step, views.resolution, step=step, generator=generator,
                                        group=views.group).to(device)
            before_render = generator.get_state()
            out = rig.render(cams, views.background, generator, step)
            if guided is not None:
                losses["guidance"] = guided.weight * _guidance_loss(guided, terms, out.rgb, cams, views, before_render,
                                                                    step, steps, generator)
            losses.update(rig.regularize(out))
        for term in terms:
            losses.update(term.losses(rig, out, cams, step))
        loss = _total(losses)
        rig.zero_grad()
        rig.before_backward(step, out)
        loss.backward()
        rig.step(step, out, cams)
        logs = guided.guidance.update(step) if guided is not None else {}
        info = Step(step + 1, steps, loss, losses, logs, rig)
        info.metrics = {"loss": loss.item(), **{k: v.item() for k, v in losses.items()}, **logs}
        for callback in callbacks:
            callback(info)


def _total(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The guidance loss plus the sum of the others (this association, step for step the one of earlier
    releases, keeps runs bit-identical to them)."""
    rest = [v for k, v in losses.items() if k != "guidance"]
    return losses["guidance"] + sum(rest) if "guidance" in losses else sum(rest)


def _guidance_loss(guided: Guided, terms: Sequence[Term], rgb: torch.Tensor, cams: Cameras, views: Views,
                   rng_state: torch.Tensor, step: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    extra: dict[str, torch.Tensor] = {}
    for term in terms:
        extra.update(term.conditions(cams, views.background, rng_state))
    conditions = guided.prompts.conditions(cams, perp_neg=guided.perp_neg, **extra)
    return guided.guidance(rgb, conditions, cams, step=step, max_steps=steps, generator=generator).loss
