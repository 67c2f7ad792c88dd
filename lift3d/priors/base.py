"""The diffusion-prior protocol shared by every guidance loss.

A *prior* predicts noise. It owns its noise schedule (``alphas_cumprod``), maps images to and from
its sample space, and evaluates several named conditioning *branches* (conditional, unconditional,
negative, ...) in one batched forward. Mixing the branches (classifier-free guidance) is guidance
math and lives in :mod:`lift3d.guidance.functional`, never here.

Noise convention (variance preserving, DDPM, T = ``num_train_timesteps``)::

    abar_t = alphas_cumprod[t],  alpha_t = sqrt(abar_t),  sigma_t = sqrt(1 - abar_t)
    z_t = alpha_t * x0 + sigma_t * eps
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Protocol, runtime_checkable

import torch

from lift3d.cameras import Cameras, position_to_spherical


class Branch(str, Enum):
    """A named conditioning branch; its value is the :class:`Conditions` field holding its embedding."""

    TEXT = "text"
    UNCOND = "uncond"
    NEGATIVE = "negative"
    SOURCE = "source"
    VIEW_INDEPENDENT = "view_independent"


class PredictionType(str, Enum):
    """What a denoiser's raw output means (diffusers' ``prediction_type``)."""

    EPSILON = "epsilon"
    V = "v_prediction"
    SAMPLE = "sample"


@dataclass(frozen=True)
class Conditions:
    """Named conditioning inputs for a batch of B samples; never concatenated positionally.

    Embeddings are in the prior's own format: ``[B, L, D]`` text-encoder states for UNet priors,
    ``[B]`` integer distribution indices for :mod:`lift3d.priors.analytic`.

    Attributes:
        text: the (view-dependent) prompt.
        uncond: the empty prompt (classifier-free guidance's unconditional branch).
        negative: a negative prompt (NFSD's out-of-domain branch, CSD's negative term, CFG's uncond
            replacement).
        source: DDS's source prompt.
        view_independent: the prompt without view suffix (VSD's phi uses it).
        source_images: ``[B, H, W, 3]`` DDS source renders in [0, 1].
        image: an image condition (Zero123), in the prior's format.
        camera: ``[B, k]`` camera condition in the prior's format (see ``camera_condition``).
        views: ``[B, 3, L, D]`` front/side/back view prompts (Perp-Neg's negatives, arXiv 2304.04968).
        view_weights: ``[B, 3]`` their Perp-Neg weights (<= 0); set together with ``views``.
    """

    text: torch.Tensor | None = None
    uncond: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    source: torch.Tensor | None = None
    view_independent: torch.Tensor | None = None
    source_images: torch.Tensor | None = None
    image: torch.Tensor | None = None
    camera: torch.Tensor | None = None
    views: torch.Tensor | None = None
    view_weights: torch.Tensor | None = None

    def embedding(self, branch: Branch) -> torch.Tensor:
        """The embedding of ``branch``; raises a ValueError naming the missing field."""
        value = getattr(self, Branch(branch).value)
        if value is None:
            raise ValueError(f"this guidance needs conditions.{Branch(branch).value}; "
                             f"set it (e.g. with PromptEmbeddings.conditions or AnalyticPrior.conditions).")
        return value

    def cat(self, other: Conditions) -> Conditions:
        """Concatenate two batches field by field (a field must be set in both or neither)."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if (a is None) != (b is None):
                raise ValueError(f"cannot concatenate Conditions: field {f.name!r} is set in only one of them.")
            out[f.name] = None if a is None else torch.cat([a, b], dim=0)
        return Conditions(**out)

    def with_(self, **changes: torch.Tensor | None) -> Conditions:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def spherical_camera_condition(cameras: Cameras) -> torch.Tensor:
    """``[B, 4]`` = (elevation rad, sin azimuth, cos azimuth, distance), threestudio's "spherical" condition."""
    elevation, azimuth, distance = position_to_spherical(cameras.c2w[:, :3, 3])
    az = torch.deg2rad(azimuth)
    return torch.stack([torch.deg2rad(elevation), az.sin(), az.cos(), distance], dim=-1)


def c2w_camera_condition(cameras: Cameras) -> torch.Tensor:
    """``[B, 16]`` flattened camera-to-world matrices (ProlificDreamer / MVDream camera input)."""
    return cameras.c2w.reshape(len(cameras), 16)


def schedule_coefficients(alphas_cumprod: torch.Tensor, t: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``alpha_t, sigma_t`` gathered for timesteps ``t`` [B] and shaped ``[B, 1, ...]`` for ``ndim`` dims."""
    abar = alphas_cumprod.to(t.device)[t.long()].float()
    shape = (-1,) + (1,) * (ndim - 1)
    return abar.sqrt().reshape(shape), (1.0 - abar).sqrt().reshape(shape)


def to_epsilon(raw: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
               prediction_type: PredictionType) -> torch.Tensor:
    """Convert a raw denoiser output to an epsilon prediction (THE one place this happens).

    With ``z_t = alpha x0 + sigma eps``: ``v = alpha eps - sigma x0`` gives ``eps = alpha v + sigma z_t``;
    an x0 prediction gives ``eps = (z_t - alpha x0) / sigma``.

    Args:
        raw: ``[B, C, h, w]`` model output.
        x_t: ``[B, C, h, w]`` the noisy input it was computed from.
        t: ``[B]`` integer timesteps.
        alphas_cumprod: ``[T]`` schedule.
        prediction_type: meaning of ``raw``.
    """
    kind = PredictionType(prediction_type)
    if kind is PredictionType.EPSILON:
        return raw
    alpha, sigma = schedule_coefficients(alphas_cumprod, t, raw.ndim)
    if kind is PredictionType.V:
        return alpha * raw + sigma * x_t
    return (x_t - alpha * raw) / sigma


def predict_x0(x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """One-step clean estimate ``x0 = (z_t - sigma eps) / alpha`` (Tweedie with an eps model)."""
    alpha, sigma = schedule_coefficients(alphas_cumprod, t, x_t.ndim)
    return (x_t - sigma * eps) / alpha


def vp_add_noise(alphas_cumprod: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``z_t = alpha_t x0 + sigma_t noise`` (identical to diffusers' ``DDPMScheduler.add_noise``)."""
    alpha, sigma = schedule_coefficients(alphas_cumprod, t, x0.ndim)
    return alpha * x0 + sigma * noise


def sd_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 0.00085,
                      beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's ``scaled_linear`` schedule: ``[T]`` cumulative products of ``1 - beta``."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def views_per_sample(prior: object) -> int:
    """How many consecutive images of a batch form one sample of ``prior``: its ``num_frames`` (4 for MVDream,
    whose views of one sample share the timestep, arXiv 2308.16512), else 1."""
    return int(getattr(prior, "num_frames", 1))


@runtime_checkable
class DiffusionPrior(Protocol):
    """What a guidance loss needs from a frozen diffusion model.

    Attributes:
        alphas_cumprod: ``[T]`` float32 buffer (the prior's own schedule).
        num_train_timesteps: T.
        resolution: side of the square images ``encode`` expects after resizing (pixels).
        channels: channels C of the sample space ``x`` (4 for SD latents, 3 for pixel priors).
        prediction_type: what the underlying network predicts (converted to epsilon by ``predict``).
    """

    alphas_cumprod: torch.Tensor
    num_train_timesteps: int
    resolution: int
    channels: int
    prediction_type: PredictionType

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, H, W, 3]`` images in [0, 1] -> ``[B, C, h, w]`` samples, differentiable."""
        ...

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` samples -> ``[B, H, W, 3]`` images in [0, 1]."""
        ...

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``z_t`` for ``[B, C, h, w]`` samples and ``[B]`` timesteps."""
        ...

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, conditions: Conditions,
                branches: Sequence[Branch]) -> dict[Branch, torch.Tensor]:
        """Epsilon predictions ``[B, C, h, w]`` for each branch, computed in one batched forward."""
        ...

    def camera_condition(self, cameras: Cameras) -> torch.Tensor | None:
        """The camera condition this prior consumes (``None`` when it ignores cameras)."""
        ...
