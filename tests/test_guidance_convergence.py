"""Convergence on analytic priors: losses drive images to a point mass; VSD covers more mixture modes than SDS."""

from __future__ import annotations

import pytest
import torch

from lift3d.guidance import NFSDConfig, PhiKind, SDSConfig, SJCConfig, TimestepSchedule, VSDConfig
from lift3d.priors import AnalyticPrior, GaussianMixture
from lift3d.priors.analytic import images_to_samples

R = 8


def optimise(guidance, prior_conditions, init: torch.Tensor, steps: int, lr: float = 0.02, seed: int = 0) -> torch.Tensor:
    """Adam on the pixels with a cosine learning-rate decay; returns the final images."""
    img = init.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        out = guidance(img, prior_conditions, None, step=step, max_steps=steps, generator=gen)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        sched.step()
        guidance.update(step)
    return img.detach()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (-10 * torch.log10(((a - b) ** 2).mean())).item()


CASES = {
    # CFG 1 = the conditional model itself: the noise cancels exactly, convergence is exact.
    "sds": (SDSConfig(guidance_scale=1.0), {}, 50.0),
    "sjc": (SJCConfig(guidance_scale=1.0), {}, 50.0),
    # NFSD at its paper scale; the negative prompt carries no extra information here (negative = uncond).
    "nfsd": (NFSDConfig(timesteps=TimestepSchedule(0.02, 0.5)), {"negative": 1}, 27.0),
    "vsd": (VSDConfig(guidance_scale=1.0, phi_lr=1e-2, timesteps=TimestepSchedule(0.02, 0.5)), {}, 27.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_converges_to_point_mass(name: str) -> None:
    config, cond_kw, min_psnr = CASES[name]
    target = torch.rand(1, R, R, 3, generator=torch.Generator().manual_seed(0))
    prior = AnalyticPrior.point_mass(target)
    init = torch.full((1, R, R, 3), 0.5)
    final = optimise(config.build(prior), AnalyticPrior.conditions(1, **cond_kw), init, steps=300)
    assert psnr(init, target) < 12.0
    assert psnr(final, target) > min_psnr, f"{name}: PSNR {psnr(final, target):.1f} dB"


def modes_reached(final: torch.Tensor, modes: torch.Tensor, tol: float = 0.1) -> int:
    """Number of distinct modes that some particle sits within ``tol`` RMS of."""
    d = ((final[:, None] - modes[None]) ** 2).flatten(2).mean(-1).sqrt()  # [P, K]
    nearest = d.argmin(1)
    return len({k for p, k in enumerate(nearest.tolist()) if d[p, k] < tol})


@pytest.mark.slow
def test_vsd_covers_more_modes_than_sds() -> None:
    """4 particles from (almost) the same start on a 4-mode mixture: SDS particles fall into modes
    independently and share some; VSD's ``- e_phi`` term cancels the pull of already-occupied modes.
    Phi is the exact score of the particles (a perfectly trained phi) so the test measures VSD itself."""
    modes = torch.rand(4, 4, 4, 3, generator=torch.Generator().manual_seed(100))
    samples = images_to_samples(modes)
    prior = AnalyticPrior([GaussianMixture(samples, 0.0), GaussianMixture(torch.cat([samples, -samples]), 1e-3)], 4)
    init = 0.5 + 0.01 * torch.randn(4, 4, 4, 3, generator=torch.Generator().manual_seed(0))
    conds = AnalyticPrior.conditions(4)
    ts = TimestepSchedule(0.02, 0.98)
    sds = optimise(SDSConfig(guidance_scale=1.0, timesteps=ts).build(prior), conds, init, steps=200)
    vsd = optimise(VSDConfig(guidance_scale=1.0, phi=PhiKind.EXACT_PARTICLES, timesteps=ts).build(prior), conds,
                   init, steps=200)
    n_sds, n_vsd = modes_reached(sds, modes), modes_reached(vsd, modes)
    assert n_vsd > n_sds, f"VSD reached {n_vsd} modes, SDS {n_sds}"
