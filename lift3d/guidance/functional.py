"""Shared math of score-distillation losses: timestep schedules, weightings, CFG, clipping, the loss trick.

Everything here is a pure function of its arguments (step counters come from the caller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

ScheduleSpec = float | tuple[float, ...]
"""A scalar (constant) or threestudio's ``C()`` list: ``(start_value, end_value, end_step)`` starting at
step 0, or ``(start_step, start_value, end_value, end_step)``; linear in between, clamped outside."""


def schedule_value(spec: ScheduleSpec, step: int) -> float:
    """Evaluate a step-based schedule (threestudio ``C``): ``schedule_value((0, .98, .02, 8000), 4000) == 0.5``."""
    if isinstance(spec, (int, float)):
        return float(spec)
    spec = tuple(float(v) for v in spec)
    if len(spec) == 3:
        spec = (0.0, *spec)
    if len(spec) != 4:
        raise ValueError(f"schedule must be a number, (v0, v1, end_step) or (start_step, v0, v1, end_step); got {spec}")
    start_step, v0, v1, end_step = spec
    if end_step <= start_step:
        return v1 if step >= end_step else v0
    f = min(max((step - start_step) / (end_step - start_step), 0.0), 1.0)
    return v0 + f * (v1 - v0)


class Anneal(str, Enum):
    """How timesteps are drawn from the scheduled ``[t_min, t_max]`` range."""

    RANDOM = "random"
    """Uniform integers in the (scheduled) range, one per sample or shared."""
    LINEAR = "linear"
    """Deterministic ``t = t_max - (t_max - t_min) * step / max_steps``."""
    SQRT = "sqrt"
    """HiFA (arXiv 2305.18766): deterministic ``t = t_max - (t_max - t_min) * sqrt(step / max_steps)``."""


@dataclass(frozen=True)
class TimestepSchedule:
    """Which diffusion timesteps a guidance uses at a training step (fractions of T)."""

    t_min: ScheduleSpec = 0.02
    """Lower end as a fraction of T, constant or a ``schedule_value`` spec."""
    t_max: ScheduleSpec = 0.98
    """Upper end as a fraction of T, constant or a ``schedule_value`` spec."""
    anneal: Anneal = Anneal.RANDOM
    """Random in range, or deterministic linear / HiFA-sqrt annealing from t_max to t_min."""
    shared: bool = False
    """Draw one t for the whole batch (required by multi-view priors)."""


def timestep_range(schedule: TimestepSchedule, step: int, num_train_timesteps: int) -> tuple[int, int]:
    """Integer ``(lo, hi)`` (both inclusive) for ``step``; ``round`` avoids ``int(0.29 * 1000) == 289``."""
    lo = round(schedule_value(schedule.t_min, step) * num_train_timesteps)
    hi = round(schedule_value(schedule.t_max, step) * num_train_timesteps)
    lo, hi = max(0, min(lo, num_train_timesteps - 1)), max(0, min(hi, num_train_timesteps - 1))
    if lo > hi:
        raise ValueError(f"timestep range is empty at step {step}: t_min {lo} > t_max {hi}")
    return lo, hi


def sample_timesteps(schedule: TimestepSchedule, step: int, max_steps: int, batch: int, num_train_timesteps: int,
                     generator: torch.Generator | None = None, device: torch.device | None = None,
                     group: int = 1) -> torch.Tensor:
    """``[B]`` int64 timesteps for training ``step`` of ``max_steps``.

    ``group``: consecutive groups of this many samples share one t (the views of one multi-view sample, as
    MVDream, arXiv 2308.16512, was trained); ``B`` must be a multiple of it.
    """
    lo, hi = timestep_range(schedule, step, num_train_timesteps)
    if schedule.anneal is Anneal.RANDOM:
        if batch % group:
            raise ValueError(f"a batch of {batch} is not a whole number of {group}-view groups")
        n = 1 if schedule.shared else batch // group
        t = torch.randint(lo, hi + 1, (n,), generator=generator, device=device)
        return t.repeat_interleave(batch // n)
    frac = min(max(step / max(max_steps, 1), 0.0), 1.0)
    if schedule.anneal is Anneal.SQRT:
        frac = math.sqrt(frac)
    t = round(hi - (hi - lo) * frac)
    return torch.full((batch,), t, dtype=torch.long, device=device)


class Weighting(str, Enum):
    """Timestep weightings ``w(t)``, defined once from ``abar_t``."""

    SDS = "sds"
    """``1 - abar_t`` = sigma_t^2 (DreamFusion, arXiv 2209.14988)."""
    UNIFORM = "uniform"
    """``1``."""
    FANTASIA3D = "fantasia3d"
    """``sqrt(abar_t) (1 - abar_t)`` (Fantasia3D, arXiv 2303.13873)."""
    SIGMA_OVER_ALPHA = "sigma_over_alpha"
    """``sigma_t / alpha_t`` (x0-reconstruction form used by MVDream, arXiv 2308.16512)."""


def weight(weighting: Weighting, alphas_cumprod: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``[B]`` weights ``w(t)``."""
    abar = alphas_cumprod.to(t.device)[t.long()].float()
    kind = Weighting(weighting)
    if kind is Weighting.SDS:
        return 1.0 - abar
    if kind is Weighting.UNIFORM:
        return torch.ones_like(abar)
    if kind is Weighting.FANTASIA3D:
        return abar.sqrt() * (1.0 - abar)
    return (1.0 - abar).sqrt() / abar.sqrt()


def cfg(e_uncond: torch.Tensor, e_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance, THE convention of lift3d (diffusers): ``e_u + s (e_c - e_u)``.

    ``s = 1`` is the conditional model, ``s = 0`` the unconditional one. DreamFusion/threestudio's
    SDS writes ``e_c + s (e_c - e_u)``, which is ours at ``s + 1``.
    """
    return e_uncond + scale * (e_cond - e_uncond)


def perpendicular_component(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ``a - (<a, b> / max(<b, b>, 1e-6)) b`` (Perp-Neg, arXiv 2304.04968)."""
    dot = (a * b).flatten(1).sum(1)
    norm = (b * b).flatten(1).sum(1).clamp_min(1e-6)
    return a - (dot / norm).reshape(-1, *([1] * (a.ndim - 1))) * b


def perp_neg_eps(e_uncond: torch.Tensor, e_pos: torch.Tensor, e_views: list[torch.Tensor | None],
                 weights: torch.Tensor, scale: float) -> torch.Tensor:
    """``e_u + s [(e_pos - e_u) + sum_k w_k perp(e_k - e_u, e_pos - e_u)]`` per sample.

    Args:
        e_views: the epsilon of each view prompt ``[B, C, h, w]`` (None where its weight is 0 for all B).
        weights: ``[B, K]`` Perp-Neg weights.
    """
    main = e_pos - e_uncond
    delta = main
    for k, e_k in enumerate(e_views):
        if e_k is None:
            continue
        w = weights[:, k].to(main).reshape(-1, *([1] * (main.ndim - 1)))
        delta = delta + w * perpendicular_component(e_k - e_uncond, main)
    return e_uncond + scale * delta


def clean_gradient(g: torch.Tensor, clip: float | None = None) -> torch.Tensor:
    """``nan_to_num`` (NaN and inf to 0) then optional element-wise clamp to ``[-clip, clip]``."""
    g = torch.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0)
    if clip is not None and clip > 0:
        g = g.clamp(-clip, clip)
    return g


def reparameterised_loss(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``0.5 * ||x - stopgrad(x - g)||^2 / B`` (sum reduction): ``dL/dx == g / B`` exactly, value ``0.5 ||g||^2 / B``."""
    target = (x - g).detach()
    return 0.5 * ((x - target) ** 2).sum() / x.shape[0]


def broadcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape ``[B]`` to ``[B, 1, ..., 1]`` to multiply ``like``."""
    return v.reshape(-1, *([1] * (like.ndim - 1)))
