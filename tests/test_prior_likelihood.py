"""The denoising-error likelihood of a prior: closed form under a point-mass prior, and its use in ranking."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.priors.analytic import AnalyticPrior
from lift3d.priors.likelihood import DenoisingLikelihood


def test_point_mass_score_is_the_closed_form() -> None:
    """For data = a point mass at ``a``, the exact denoiser's epsilon error on ``x`` is
    ``sqrt(ab / (1 - ab)) (x - a)`` whatever the noise, so the score is
    ``-mean_t[ab_t / (1 - ab_t)] * mean((x - a)^2)`` (samples in [-1, 1]): nearer images score higher."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 8, 8, 3, generator=g)
    prior = AnalyticPrior.point_mass(target)
    cams = Cameras.from_spherical(torch.tensor([10.0, 20.0]), torch.tensor([0.0, 90.0]), 2.0, 40.0, 8)
    score = DenoisingLikelihood(prior, torch.tensor([0]), cams, timesteps=4)
    near = (target + 0.05 * torch.randn(2, 8, 8, 3, generator=g)).clamp(0, 1)
    far = (target + 0.3 * torch.randn(2, 8, 8, 3, generator=g)).clamp(0, 1)
    ab = prior.alphas_cumprod[score.t[::2]]  # one per timestep (views are the minor axis)
    for images in (near, far):
        mse = ((prior.encode(images) - prior.encode(target.expand(2, -1, -1, -1))) ** 2).mean()
        assert score(images) == pytest.approx(-float((ab / (1 - ab)).mean() * mse), rel=1e-4)
    assert score(near) > score(far)
    assert score(target.expand(2, -1, -1, -1)) == pytest.approx(0.0, abs=1e-9)


def test_shared_noise_makes_scores_repeatable() -> None:
    prior = AnalyticPrior.point_mass(torch.full((1, 8, 8, 3), 0.5), uncond_variance=1e-2)
    cams = Cameras.from_spherical(torch.tensor([10.0]), torch.tensor([0.0]), 2.0, 40.0, 8)
    score = DenoisingLikelihood(prior, torch.tensor([1]), cams)  # the uncond mixture: not a point mass
    image = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    assert score(image) == score(image)
    with pytest.raises(ValueError, match="timesteps"):
        DenoisingLikelihood(prior, torch.tensor([0]), cams, timesteps=0)
