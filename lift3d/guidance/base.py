"""The guidance interface: renders + a prior -> one differentiable loss.

Every loss computes a hand-made gradient ``g`` on the prior's sample ``x = prior.encode(images)``
under ``no_grad`` (``nan_to_num``, optional clamp) and returns ``0.5 ||x - stopgrad(x - g)||^2 / B``,
so ``dL/dx = g / B`` and only the encoder path carries autograd. Subclasses implement
:meth:`Guidance.gradient`; sampling of ``t`` and noise, encoding and the loss are shared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.functional import (
    TimestepSchedule,
    clean_gradient,
    reparameterised_loss,
    sample_timesteps,
    schedule_value,
)
from lift3d.priors.base import Conditions, DiffusionPrior, views_per_sample


@dataclass
class GuidanceOutput:
    """What a guidance returns.

    Attributes:
        loss: scalar loss whose gradient w.r.t. the images is the method's gradient (already / B).
        logs: detached diagnostics: ``t`` [B], ``w`` [B], ``grad_norm`` [], ``x0`` [B, C, h, w]
            (one-step denoised estimate), method-specific extras.
    """

    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class Guidance(torch.nn.Module):
    """Base class: subclasses set ``self.cfg`` (with ``timesteps`` and ``grad_clip``) and implement ``gradient``."""

    cfg: Any

    def __init__(self, cfg: Any, prior: DiffusionPrior) -> None:
        super().__init__()
        self.cfg = cfg
        self.prior = prior

    def sample_t(self, step: int, max_steps: int, batch: int, generator: torch.Generator | None,
                 device: torch.device) -> torch.Tensor:
        """``[B]`` timesteps from the config's schedule at ``step``."""
        schedule: TimestepSchedule = self.cfg.timesteps
        return sample_timesteps(schedule, step, max_steps, batch, self.prior.num_train_timesteps, generator, device,
                                group=views_per_sample(self.prior))

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The method's gradient ``g`` ``[B, C, h, w]`` w.r.t. ``x`` (detached ``x``) and logs (incl. ``w``, ``x0``)."""
        raise NotImplementedError

    def prepare(self, images: torch.Tensor, conditions: Conditions, cameras: Cameras | None) -> Conditions:
        """Validate inputs and fill ``conditions.camera`` from ``cameras`` when the prior uses one."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [B, H, W, 3] in [0, 1], got {tuple(images.shape)}")
        if cameras is not None and len(cameras) != images.shape[0]:
            raise ValueError(f"got {len(cameras)} cameras for {images.shape[0]} images")
        if conditions.camera is None and cameras is not None:
            conditions = conditions.with_(camera=self.prior.camera_condition(cameras))
        return conditions

    def forward(self, images: torch.Tensor, conditions: Conditions, cameras: Cameras | None = None,
                step: int = 0, max_steps: int = 1, t: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> GuidanceOutput:
        """Loss for ``images`` ``[B, H, W, 3]`` in [0, 1].

        Args:
            images: differentiable renders.
            conditions: named embeddings (see :class:`~lift3d.priors.base.Conditions`).
            cameras: the B cameras (for camera-conditioned priors, VSD's phi, view prompts).
            step: current training step; with ``max_steps`` it drives t annealing and clip schedules.
            t: ``[B]`` injected timesteps (else sampled with ``generator``).
            noise: injected noise of ``noise_shape(x)`` (``[B, C, h, w]`` unless the loss draws several).
            generator: the source of all randomness.
        """
        conditions = self.prepare(images, conditions, cameras)
        x = self.prior.encode(images)
        if t is None:
            t = self.sample_t(step, max_steps, x.shape[0], generator, x.device)
        if noise is None:
            noise = torch.randn(self.noise_shape(x), generator=generator, device=x.device, dtype=x.dtype)
        with torch.no_grad():
            g, logs = self.gradient(x.detach(), conditions, cameras, t.to(x.device), noise)
            g = clean_gradient(g, self.clip_value(step))
        logs = {"t": t, **logs, "grad_norm": g.flatten(1).norm(dim=1).mean()}
        return GuidanceOutput(reparameterised_loss(x, g), logs)

    def noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """Shape of the noise ``forward`` draws for samples ``x`` (several draws for PAAS / RewardSDS)."""
        return tuple(x.shape)

    def clip_value(self, step: int) -> float | None:
        """Element-wise gradient clamp in force at ``step`` (None = off)."""
        spec = getattr(self.cfg, "grad_clip", None)
        return None if spec is None else schedule_value(spec, step)

    def update(self, step: int) -> dict[str, float]:
        """Step the guidance's own state (VSD's phi); stateless losses do nothing."""
        return {}

    @property
    def adapts_prior(self) -> bool:
        """True when the guidance changed its prior (VSD's LoRA adapters): a later stage needs a fresh prior."""
        return False

    def resume_state(self) -> dict[str, Any]:
        """What resuming exactly needs: trainable parameters (VSD's phi, never the frozen prior) and the optimizer
        and generator of this guidance and of every guidance it wraps (RewardSDS over VSD), keyed by module name."""
        state: dict[str, Any] = {"params": {k: p.detach().clone() for k, p in self.named_parameters() if p.requires_grad}}
        for name, module in self.named_modules():
            if not isinstance(module, Guidance):
                continue
            own = module.own_state()
            if own:
                state[f"guidance:{name}"] = own
        return state

    def load_resume_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`resume_state`."""
        params = dict(self.named_parameters())
        with torch.no_grad():
            for k, v in state["params"].items():
                params[k].copy_(v)
        if "optimizer" in state or "generator" in state:  # checkpoints written before per-module keys
            self.load_own_state(state)
        for name, module in self.named_modules():
            if isinstance(module, Guidance) and f"guidance:{name}" in state:
                module.load_own_state(state[f"guidance:{name}"])

    def own_state(self) -> dict[str, Any]:
        """This module's own optimizer and generator state (not its submodules'); extend in subclasses."""
        state: dict[str, Any] = {}
        if isinstance(getattr(self, "optimizer", None), torch.optim.Optimizer):
            state["optimizer"] = self.optimizer.state_dict()
        if isinstance(getattr(self, "generator", None), torch.Generator):
            state["generator"] = self.generator.get_state()
        return state

    def load_own_state(self, state: dict[str, Any]) -> None:
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if "generator" in state:
            self.generator.set_state(state["generator"])

