"""VSD's learned score of the rendered distribution, ``eps_phi(z_t; y, t, c)``.

Two variants (ProlificDreamer, arXiv 2305.16213, section 4 and appendix):

* :class:`LoRAPhi`: PEFT LoRA (rank 4 on ``to_q/to_k/to_v/to_out.0``) on the prior's own UNet plus a
  camera MLP ``16 -> D -> D`` added to the timestep embedding (a forward hook on ``time_embedding``,
  so the frozen UNet is never modified structurally). The adapter is enabled only inside phi calls.
  Deviation: the MLP's last layer is zero-initialised so phi equals the frozen model at step 0
  (ProlificDreamer warms the phi learning rate up instead).
* :class:`SmallPhi`: a small conditional conv net for priors without a UNet (analytic priors). It
  predicts x0 (converted to epsilon by the shared helper), which is easy to learn for few particles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from lift3d.priors.base import PredictionType, schedule_coefficients, to_epsilon
from lift3d.priors.unet import UNetPrior

ADAPTER_NAME = "vsd_phi"


def timestep_features(t: torch.Tensor, dim: int, num_train_timesteps: int) -> torch.Tensor:
    """``[B, dim]`` sinusoidal features of ``t / T``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angle = (t.float() / num_train_timesteps * 1000.0)[:, None] * freqs[None]
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


def time_embedding(unet: torch.nn.Module) -> torch.nn.Module:
    """The module whose output is the UNet's timestep embedding: diffusers' ``time_embedding`` (Stable Diffusion,
    DeepFloyd IF, Zero123), or the LDM layout's ``time_embed`` (MVDream's multi-view UNet)."""
    module = getattr(unet, "time_embedding", None)
    return module if module is not None else unet.time_embed


class LoRAPhi(torch.nn.Module):
    """LoRA + camera embedding on a :class:`UNetPrior`'s UNet (PEFT adapter ``vsd_phi``)."""

    def __init__(self, prior: UNetPrior, rank: int = 4, camera_dim: int = 16) -> None:
        super().__init__()
        from peft import LoraConfig

        self.prior = [prior]  # not a submodule: its weights stay frozen and out of phi's parameters()
        unet = prior.unet
        if ADAPTER_NAME in getattr(unet, "peft_config", {}):
            raise ValueError("this UNet already carries a VSD adapter; build one VSD guidance per prior.")
        unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name=ADAPTER_NAME)
        unet.disable_adapters()
        self.lora = torch.nn.ParameterList([p for n, p in unet.named_parameters() if ADAPTER_NAME in n])
        embed = time_embedding(unet)  # a local: the prior's modules must not become phi's
        dim = embed[-1].out_features if isinstance(embed, torch.nn.Sequential) else embed.linear_2.out_features
        self.camera_mlp = torch.nn.Sequential(torch.nn.Linear(camera_dim, dim), torch.nn.SiLU(),
                                              torch.nn.Linear(dim, dim))
        torch.nn.init.zeros_(self.camera_mlp[-1].weight)
        torch.nn.init.zeros_(self.camera_mlp[-1].bias)
        self.prediction_type = prior.prediction_type

    @contextmanager
    def _active(self, camera: torch.Tensor) -> Iterator[None]:
        unet = self.prior[0].unet
        emb = self.camera_mlp(camera)
        handle = time_embedding(unet).register_forward_hook(lambda m, i, out: out + emb.to(out.dtype))
        unet.enable_adapters()
        try:
            yield
        finally:
            unet.disable_adapters()
            handle.remove()

    def raw(self, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor, camera: torch.Tensor,
            prior_camera: torch.Tensor | None) -> torch.Tensor:
        """The UNet's native output (eps / v / x0) with the adapter and camera embedding active."""
        with self._active(camera):
            return self.prior[0].forward_unet(z, t, text.expand(z.shape[0], -1, -1), prior_camera, raw=True)


class SmallPhi(torch.nn.Module):
    """A small conditional conv net predicting x0 from ``(z_t, t, camera)`` ``[B, C, r, r]``; text is ignored."""

    prediction_type = PredictionType.SAMPLE

    def __init__(self, channels: int, resolution: int, num_train_timesteps: int, hidden: int = 64,
                 camera_dim: int = 16) -> None:
        super().__init__()
        self.mean = torch.nn.Parameter(torch.zeros(channels, resolution, resolution))
        self.num_train_timesteps = num_train_timesteps
        self.embed = torch.nn.Sequential(torch.nn.Linear(64 + camera_dim, hidden), torch.nn.SiLU(),
                                         torch.nn.Linear(hidden, 2 * hidden))
        self.conv_in = torch.nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv_mid = torch.nn.Conv2d(hidden, hidden, 3, padding=1)
        self.conv_out = torch.nn.Conv2d(hidden, channels, 3, padding=1)

    def raw(self, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor | None, camera: torch.Tensor,
            prior_camera: torch.Tensor | None = None) -> torch.Tensor:
        scale, shift = self.embed(torch.cat([timestep_features(t, 64, self.num_train_timesteps), camera], -1)).chunk(2, -1)
        h = F.silu(self.conv_in(z))
        h = F.silu(self.conv_mid(h) * (1 + scale[..., None, None]) + shift[..., None, None])
        return self.mean + self.conv_out(h)  # a learned mean image plus a (z, t, camera)-dependent correction


class ParticlePhi(torch.nn.Module):
    """The exact score of the current particles (a "perfectly trained" phi), for analytic priors.

    Phi's target is the distribution of the renders; for a handful of particles its exact denoiser
    is the posterior mean of their empirical distribution (point masses, here widened by
    ``variance``). ``refresh`` replaces the particles (called from ``VSD.update``); no optimiser.
    This isolates VSD's gradient from phi's training error in tests and the playground.
    """

    prediction_type = PredictionType.SAMPLE

    def __init__(self, alphas_cumprod: torch.Tensor, variance: float = 0.0) -> None:
        super().__init__()
        self.alphas_cumprod = alphas_cumprod
        self.variance = variance
        self.particles: torch.Tensor | None = None

    def refresh(self, x0: torch.Tensor) -> None:
        self.particles = x0.detach().clone()

    def raw(self, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor | None, camera: torch.Tensor,
            prior_camera: torch.Tensor | None = None) -> torch.Tensor:
        from lift3d.priors.analytic import GaussianMixture

        if self.particles is None:
            self.refresh(z)  # first call: particles unknown yet; VSD passes x0 before this happens
        mix = GaussianMixture(self.particles, self.variance).to(z.device)
        alpha, sigma = schedule_coefficients(self.alphas_cumprod, t, z.ndim)
        return mix.posterior_mean(z, alpha, sigma, torch.zeros(z.shape[0], dtype=torch.long, device=z.device))


def phi_epsilon(phi: LoRAPhi | SmallPhi | ParticlePhi, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor | None,
                camera: torch.Tensor, prior_camera: torch.Tensor | None, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Phi's epsilon prediction ``[B, C, h, w]``."""
    return to_epsilon(phi.raw(z, t, text, camera, prior_camera), z, t, alphas_cumprod, phi.prediction_type)


def phi_loss(phi: LoRAPhi | SmallPhi, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
             text: torch.Tensor | None, camera: torch.Tensor, prior_camera: torch.Tensor | None,
             alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Standard diffusion loss in phi's native parameterisation (eps, v or x0) on detached samples ``x0``."""
    alpha, sigma = schedule_coefficients(alphas_cumprod, t, x0.ndim)
    z = alpha * x0 + sigma * noise
    out = phi.raw(z, t, text, camera, prior_camera)
    kind = PredictionType(phi.prediction_type)
    target = {PredictionType.EPSILON: noise, PredictionType.V: alpha * noise - sigma * x0,
              PredictionType.SAMPLE: x0}[kind]
    return F.mse_loss(out, target)

