"""Analytic priors: exact denoisers (checked against Tweedie's formula by autograd) and view selection."""

from __future__ import annotations

import pytest
import torch

from lift3d.guidance.functional import (
    Anneal,
    TimestepSchedule,
    Weighting,
    clean_gradient,
    sample_timesteps,
    schedule_value,
    timestep_range,
    weight,
)
from lift3d.priors import AnalyticPrior, Branch, GaussianMixture
from lift3d.priors.base import PredictionType, schedule_coefficients, sd_alphas_cumprod, to_epsilon
from lift3d.sampling import turntable


def test_point_mass_epsilon_is_exact() -> None:
    target = torch.rand(1, 4, 4, 3, generator=torch.Generator().manual_seed(0))
    prior = AnalyticPrior.point_mass(target)
    x_star = prior.encode(target)
    z = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10, 500, 990])
    eps = prior.predict(z, t, AnalyticPrior.conditions(3), (Branch.TEXT,))[Branch.TEXT]
    alpha, sigma = schedule_coefficients(prior.alphas_cumprod, t, 4)
    torch.testing.assert_close(eps, (z - alpha * x_star) / sigma)


@pytest.mark.parametrize("variance", [0.0, 0.05])
def test_mixture_denoiser_matches_tweedie(variance: float) -> None:
    """eps*(z) = -sigma * grad_z log p_t(z) for the exact marginal of a weighted isotropic mixture."""
    gen = torch.Generator().manual_seed(0)
    means = torch.rand(3, 3, 2, 2, generator=gen) * 2 - 1
    weights = torch.tensor([0.2, 0.5, 0.3])
    prior = AnalyticPrior([GaussianMixture(means, variance, weights)], resolution=2)
    t = torch.tensor([50, 400, 800])
    z = torch.randn(3, 3, 2, 2, generator=gen, dtype=torch.float64)
    alpha, sigma = (c.double() for c in schedule_coefficients(prior.alphas_cumprod, t, 4))
    zr = z.clone().requires_grad_(True)
    var = alpha**2 * variance + sigma**2  # [B,1,1,1]
    sq = ((zr[:, None] - alpha[:, None] * means.double()[None]) ** 2).flatten(2).sum(-1)  # [B, K]
    logp = torch.logsumexp(weights.double().log() - sq / (2 * var.flatten(1)) - 6 * var.flatten(1).log(), dim=1)
    (score,) = torch.autograd.grad(logp.sum(), zr)
    eps = prior.predict(z.float(), t, AnalyticPrior.conditions(3, uncond=None), (Branch.TEXT,))[Branch.TEXT]
    torch.testing.assert_close(eps.double(), -sigma * score, rtol=1e-4, atol=1e-4)


def test_multiview_set_is_picked_by_azimuth() -> None:
    views = torch.stack([torch.full((2, 2, 3), v / 4) for v in range(4)])
    prior = AnalyticPrior.point_mass(views)
    cams = turntable(4, 2, start_azimuth_deg=90.0)  # azimuths 90, 180, 270, 0
    cond = AnalyticPrior.conditions(4, camera=prior.camera_condition(cams))
    x0 = prior.distributions[0].posterior_mean(torch.zeros(4, 3, 2, 2), torch.ones(4, 1, 1, 1),
                                                torch.ones(4, 1, 1, 1), prior.distributions[0].view_index(cond.camera, 4))
    torch.testing.assert_close(x0[:, 0, 0, 0], torch.tensor([1, 2, 3, 0]) / 4 * 2 - 1)


def test_prediction_type_conversion() -> None:
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    acp = sd_alphas_cumprod()
    torch.testing.assert_close(acp, sched.alphas_cumprod.float())
    x0, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    t = torch.tensor([3, 777])
    z = sched.add_noise(x0, eps, t)
    torch.testing.assert_close(to_epsilon(sched.get_velocity(x0, eps, t), z, t, acp, PredictionType.V), eps,
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(to_epsilon(x0, z, t, acp, PredictionType.SAMPLE), eps, rtol=1e-3, atol=1e-3)


def test_schedules_and_weights() -> None:
    assert schedule_value((0, 0.98, 0.02, 8000), 4000) == pytest.approx(0.5)
    assert schedule_value((0.98, 0.5, 100), 200) == 0.5 and schedule_value(0.3, 10) == 0.3
    assert schedule_value((5000, 0.98, 0.5, 5001), 4999) == 0.98 and schedule_value((5000, 0.98, 0.5, 5001), 5001) == 0.5
    assert timestep_range(TimestepSchedule(0.29, 0.98), 0, 1000) == (290, 980)
    hifa = TimestepSchedule(0.02, 0.98, Anneal.SQRT)
    ts = [sample_timesteps(hifa, s, 100, 1, 1000)[0].item() for s in range(0, 101, 10)]
    assert ts[0] == 980 and ts[-1] == 20 and all(a >= b for a, b in zip(ts, ts[1:]))
    assert sample_timesteps(hifa, 25, 100, 1, 1000).item() == 500  # sqrt(0.25) = 0.5
    t = sample_timesteps(TimestepSchedule(0.02, 0.98), 0, 1, 5000, 1000, torch.Generator().manual_seed(0))
    assert t.min() == 20 and t.max() == 980
    shared = sample_timesteps(TimestepSchedule(shared=True), 0, 1, 4, 1000, torch.Generator().manual_seed(0))
    assert (shared == shared[0]).all()
    acp = sd_alphas_cumprod()
    tt = torch.tensor([0, 500, 999])
    torch.testing.assert_close(weight(Weighting.SDS, acp, tt), 1 - acp[tt])
    torch.testing.assert_close(weight(Weighting.FANTASIA3D, acp, tt), acp[tt].sqrt() * (1 - acp[tt]))
    g = clean_gradient(torch.tensor([float("nan"), float("inf"), 3.0, -5.0]), 2.0)
    assert g.tolist() == [0.0, 0.0, 2.0, -2.0]
