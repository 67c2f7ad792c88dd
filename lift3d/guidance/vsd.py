"""Variational Score Distillation.

"ProlificDreamer: High-Fidelity and Diverse Text-to-3D Generation with Variational Score
Distillation", Wang et al., arXiv 2305.16213.
``g = w(t) (e_pretrain(z_t; y, t) - eps_phi(z_t; y, t, c))``: the frozen prior with CFG 7.5 against a
learned score of the current renders (LoRA of the prior's UNet + camera embedding, see
:mod:`lift3d.guidance.vsd_phi`), trained alongside with the standard diffusion loss on detached renders
(full t range, camera dropped to zeros with probability 0.1). The batch holds the particles; all
particles share one phi. ``forward`` caches the detached samples, ``update(step)`` trains phi on them
with the guidance's own optimizer and generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from lift3d.cameras import Cameras
from lift3d.guidance.base import Guidance
from lift3d.guidance.functional import (
    ScheduleSpec,
    TimestepSchedule,
    Weighting,
    broadcast,
    cfg,
    sample_timesteps,
    weight,
)
from lift3d.guidance.sds import uncond_branch
from lift3d.guidance.vsd_phi import LoRAPhi, ParticlePhi, SmallPhi, phi_epsilon, phi_loss
from lift3d.priors.base import Branch, Conditions, DiffusionPrior, c2w_camera_condition, predict_x0, views_per_sample
from lift3d.priors.unet import UNetPrior


class PhiKind(str, Enum):
    """How VSD estimates the score of the rendered distribution."""

    AUTO = "auto"
    """LoRA on the prior's UNet when it has one that takes only the noisy sample (not Zero123's), else a small
    learned network."""
    SMALL = "small"
    """A small learned conv net (any prior)."""
    EXACT_PARTICLES = "exact-particles"
    """The exact denoiser of the current particles (no training; a perfectly trained phi)."""


@dataclass(frozen=True)
class VSDConfig:
    """Variational Score Distillation (arXiv 2305.16213); threestudio prolificdreamer.yaml defaults."""

    guidance_scale: float = 7.5
    """CFG scale of the frozen prior (diffusers convention); phi runs without CFG."""
    weighting: Weighting = Weighting.SDS
    """w(t)."""
    timesteps: TimestepSchedule = TimestepSchedule(0.02, (5000, 0.98, 0.5, 5001))
    """Distillation timesteps; t_max drops to 0.5 at step 5000."""
    grad_clip: ScheduleSpec | None = None
    """Element-wise clamp of g, None = off."""
    negative_as_uncond: bool = True
    """Use ``conditions.negative`` (when set) as CFG's unconditional branch."""
    phi: PhiKind = PhiKind.AUTO
    """Phi's form: LoRA/small net (learned) or the exact particle score."""
    particle_variance: float = 0.0
    """Kernel variance of the exact-particle phi (> 0 smooths it and repels nearby particles)."""
    lora_rank: int = 4
    """LoRA rank on the prior's attention projections (UNet priors)."""
    phi_hidden: int = 64
    """Width of the small phi network (priors without a UNet)."""
    phi_lr: float = 1e-4
    """AdamW learning rate of phi."""
    phi_steps: int = 1
    """Phi updates per ``update`` call."""
    phi_timesteps: TimestepSchedule = TimestepSchedule(0.0, 1.0)
    """Timesteps of phi's diffusion loss (full range)."""
    camera_dropout: float = 0.1
    """Probability of zeroing phi's camera condition during its training."""
    seed: int = 0
    """Seed of phi's initialisation and of its own generator (t, noise, dropout in ``update``)."""

    def build(self, prior: DiffusionPrior) -> VSD:
        return VSD(self, prior)

    def needs(self) -> frozenset[Branch]:
        """Conditioning branches beyond the prompt and the empty prompt: none."""
        return frozenset()


class VSD(Guidance):
    """Variational Score Distillation; see :class:`VSDConfig`."""

    cfg: VSDConfig

    def __init__(self, cfg: VSDConfig, prior: DiffusionPrior) -> None:
        super().__init__(cfg, prior)
        device = prior.alphas_cumprod.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            if cfg.phi is PhiKind.EXACT_PARTICLES:
                self.phi: LoRAPhi | SmallPhi | ParticlePhi = ParticlePhi(prior.alphas_cumprod, cfg.particle_variance)
            elif isinstance(prior, UNetPrior) and prior.lora_phi and cfg.phi is PhiKind.AUTO:
                self.phi = LoRAPhi(prior, rank=cfg.lora_rank)
            else:
                side = prior.latent_size if isinstance(prior, UNetPrior) else prior.resolution  # the sample's side
                self.phi = SmallPhi(prior.channels, side, prior.num_train_timesteps, hidden=cfg.phi_hidden)
        self.phi.to(device)
        params = list(self.phi.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=cfg.phi_lr) if params else None
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None] | None = None

    @staticmethod
    def phi_camera(cameras: Cameras | None, batch: int, device: torch.device) -> torch.Tensor:
        """``[B, 16]`` flattened c2w for phi (zeros when no cameras are given)."""
        return torch.zeros(batch, 16, device=device) if cameras is None else c2w_camera_condition(cameras).to(device)

    def gradient(self, x: torch.Tensor, conditions: Conditions, cameras: Cameras | None, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = self.prior.add_noise(x, t, noise)
        unc = uncond_branch(conditions, self.cfg.negative_as_uncond)
        eps = self.prior.predict(z, t, conditions, (Branch.TEXT, unc))
        e_pre = cfg(eps[unc], eps[Branch.TEXT], self.cfg.guidance_scale)
        camera = self.phi_camera(cameras, x.shape[0], x.device)
        text = conditions.view_independent if conditions.view_independent is not None else conditions.text
        if isinstance(self.phi, ParticlePhi) and self.phi.particles is None:
            self.phi.refresh(x)
        e_phi = phi_epsilon(self.phi, z, t, text, camera, conditions.camera, self.prior.alphas_cumprod)
        self._pending = (x.detach(), camera, text, conditions.camera)
        w = weight(self.cfg.weighting, self.prior.alphas_cumprod, t)
        x0 = predict_x0(z, t, e_pre, self.prior.alphas_cumprod)
        return broadcast(w, x) * (e_pre - e_phi), {"w": w, "x0": x0}

    def update(self, step: int) -> dict[str, float]:
        """Train phi on the samples of the last ``forward`` (no path to the images)."""
        if self._pending is None:
            return {}
        x0, camera, text, prior_camera = self._pending
        if isinstance(self.phi, ParticlePhi):
            self.phi.refresh(x0)
            self._pending = None
            return {}
        losses = []
        for _ in range(self.cfg.phi_steps):
            b = x0.shape[0]
            t = self.sample_phi_t(step, b, x0.device)
            noise = torch.randn(x0.shape, generator=self.generator, device=x0.device)
            keep = (torch.rand(b, generator=self.generator, device=x0.device) >= self.cfg.camera_dropout)
            loss = phi_loss(self.phi, x0, t, noise, text, camera * keep[:, None].to(camera.dtype), prior_camera,
                            self.prior.alphas_cumprod)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        self._pending = None
        return {"loss_phi": sum(losses) / len(losses)}

    def sample_phi_t(self, step: int, batch: int, device: torch.device) -> torch.Tensor:
        """``[B]`` timesteps for phi's diffusion loss, from VSD's own generator (shared by the views of one
        multi-view sample, as the prior's own timesteps)."""
        return sample_timesteps(self.cfg.phi_timesteps, step, 1, batch, self.prior.num_train_timesteps,
                                self.generator, device, group=views_per_sample(self.prior))

    @property
    def adapts_prior(self) -> bool:
        """A LoRA phi lives inside the prior's UNet."""
        return isinstance(self.phi, LoRAPhi)

    def own_state(self) -> dict:
        """Optimizer and generator, and the exact-particle phi's particles (its whole state)."""
        state = super().own_state()
        if isinstance(self.phi, ParticlePhi) and self.phi.particles is not None:
            state["particles"] = self.phi.particles.clone()
        return state

    def load_own_state(self, state: dict) -> None:
        super().load_own_state(state)
        if "particles" in state:
            self.phi.refresh(state["particles"].to(self.prior.alphas_cumprod.device))
