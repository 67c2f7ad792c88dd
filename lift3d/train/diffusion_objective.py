"""The regression target and Min-SNR-gamma weights of the bundled priors' denoising objective.

With ``x_t = alpha x0 + sigma eps`` (``alpha^2 = alphas_cumprod[t]``) a network predicts one of
diffusers' ``prediction_type`` values: ``epsilon`` ("Denoising Diffusion Probabilistic Models", arXiv
2006.11239), ``v_prediction`` = ``alpha eps - sigma x0`` ("Progressive Distillation for Fast Sampling of
Diffusion Models", arXiv 2202.00512) or ``sample`` = ``x0``. The weights are Min-SNR-gamma ("Efficient
Diffusion Training via Min-SNR Weighting Strategy", arXiv 2303.09556) written for each target so that all
three weight the *same* x0 error ``min(snr, gamma) |x0_hat - x0|^2``: since ``eps_hat - eps = -(x0_hat - x0)
alpha / sigma`` and ``v_hat - v = -(x0_hat - x0) / sigma``, the per-target weights are ``min(snr, gamma) /
snr`` (epsilon), ``min(snr, gamma) / (snr + 1)`` (v) and ``min(snr, gamma)`` (sample).

Why v for a schedule that ends at zero SNR: the bundled priors use the squared-cosine schedule, whose
``alphas_cumprod[999]`` is 2.4e-9. There epsilon prediction is trivial (``eps = x_t``) and says nothing
about the image, so a sampler's first step cannot bring in the condition; v prediction is ``-x0`` there and
has to learn the conditional mean ("Common Diffusion Noise Schedules and Sample Steps are Flawed", arXiv
2305.08891, sec. 3.2). The loaders convert every target to epsilon (:func:`lift3d.priors.base.to_epsilon`).

Pitfall: Min-SNR's weight on the x0 error, ``min(snr, gamma)``, goes to zero with the SNR, so near the zero-SNR
end the conditional mean gets almost no gradient whatever the target (at ``t = 900`` of this schedule the weight
is 0.02). That is where a sampler fixes the layout of the image (for the text prior: the object's yaw from the
camera condition). ``gamma <= 0`` trains the plain target MSE instead, which for v weights the x0 error by
``snr + 1 >= 1`` (the loss arXiv 2305.08891 trains with).
"""

from __future__ import annotations

import torch

from lift3d.priors.base import PredictionType


def training_target(x0: torch.Tensor, noise: torch.Tensor, alphas_cumprod_t: torch.Tensor,
                    prediction_type: PredictionType | str) -> torch.Tensor:
    """What the network regresses for ``x_t = alpha x0 + sigma noise``; ``alphas_cumprod_t`` is ``[B]``."""
    kind = PredictionType(prediction_type)
    if kind is PredictionType.EPSILON:
        return noise
    if kind is PredictionType.SAMPLE:
        return x0
    shape = (-1,) + (1,) * (x0.ndim - 1)
    alpha, sigma = alphas_cumprod_t.sqrt().reshape(shape), (1 - alphas_cumprod_t).sqrt().reshape(shape)
    return alpha * noise - sigma * x0


def min_snr_weights(alphas_cumprod: torch.Tensor, gamma: float, prediction_type: PredictionType | str) -> torch.Tensor:
    """``[T]`` loss weights per timestep: Min-SNR-gamma for the given target (see the module docstring);
    ``gamma <= 0`` gives ones (plain MSE on the target)."""
    if gamma <= 0:
        return torch.ones_like(alphas_cumprod)
    snr = alphas_cumprod / (1 - alphas_cumprod)
    clipped = snr.clamp(max=gamma)
    kind = PredictionType(prediction_type)
    if kind is PredictionType.EPSILON:
        return clipped / snr
    if kind is PredictionType.V:
        return clipped / (snr + 1)
    return clipped


def draw_timesteps(batch: int, num_timesteps: int, generator: torch.Generator, high_fraction: float = 0.0,
                   high_from: int = 700) -> torch.Tensor:
    """``[batch]`` training timesteps: uniform over ``0 .. T-1``, except that a ``high_fraction`` of them (each
    sample independently) are redrawn uniformly from ``high_from .. T-1``.

    Why: a sample's layout (for the text prior: the object's yaw, which only the camera condition says) is
    decided at high noise, where the image in ``x_t`` no longer shows it; a uniform draw spends 30 % of the
    batch there and the camera-conditional mean trains slowly (docs/bundled_prior.md). Biasing the draw
    towards a range of timesteps is what diffusers' SDXL fine-tuning scripts offer as
    ``--timestep_bias_strategy``. With ``high_fraction == 0`` the generator is used exactly as by a plain
    ``torch.randint`` (old runs resume bit-identically).
    """
    t = torch.randint(0, num_timesteps, (batch,), generator=generator)
    if high_fraction <= 0:
        return t
    if not 0 <= high_from < num_timesteps:
        raise ValueError(f"high_from must be in [0, {num_timesteps}), got {high_from}")
    high = torch.rand(batch, generator=generator) < high_fraction
    return torch.where(high, torch.randint(high_from, num_timesteps, (batch,), generator=generator), t)


__all__ = ["draw_timesteps", "min_snr_weights", "training_target"]
