"""The bundled priors' training targets and Min-SNR weights: exact identities with the loaders' conversion."""

from __future__ import annotations

import pytest
import torch

from lift3d.priors.base import PredictionType, predict_x0, to_epsilon
from lift3d.priors.bundled import pixel_scheduler
from lift3d.train.diffusion_objective import draw_timesteps, min_snr_weights, training_target

ACP = pixel_scheduler().alphas_cumprod.double()
T = torch.tensor([0, 10, 200, 500, 800, 990])


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(len(T), 3, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(len(T), 3, 4, 4, generator=g, dtype=torch.float64)
    a = ACP[T].sqrt()[:, None, None, None]
    return x0, noise, a * x0 + (1 - a ** 2).sqrt() * noise


@pytest.mark.parametrize("kind", list(PredictionType))
def test_a_perfect_prediction_of_each_target_is_the_true_noise_for_the_loaders(kind: PredictionType) -> None:
    x0, noise, x_t = _batch()
    target = training_target(x0, noise, ACP[T], kind)
    torch.testing.assert_close(to_epsilon(target, x_t, T, ACP, kind).double(), noise, rtol=1e-5, atol=1e-5)


def test_v_target_closed_form() -> None:
    x0, noise, _ = _batch()
    a = ACP[T].sqrt()[:, None, None, None]
    torch.testing.assert_close(training_target(x0, noise, ACP[T], "v_prediction"), a * noise - (1 - a ** 2).sqrt() * x0)


def test_min_snr_weights_weigh_the_same_x0_error_for_every_target() -> None:
    """w * |pred - target|^2 is min(snr, gamma) |x0_hat - x0|^2 whatever the network predicts."""
    x0, noise, x_t = _batch(1)
    x0_hat = x0 + 0.1 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = ACP[T].sqrt()[:, None, None, None]
    s = (1 - a ** 2).sqrt()
    eps_hat = (x_t - a * x0_hat) / s  # the same denoised estimate written as each target
    preds = {PredictionType.EPSILON: eps_hat, PredictionType.V: a * eps_hat - s * x0_hat, PredictionType.SAMPLE: x0_hat}
    snr = ACP[T] / (1 - ACP[T])
    want = snr.clamp(max=5.0) * ((x0_hat - x0) ** 2).mean((1, 2, 3))
    for kind, pred in preds.items():
        w = min_snr_weights(ACP, 5.0, kind)[T]
        got = w * ((pred - training_target(x0, noise, ACP[T], kind)) ** 2).mean((1, 2, 3))
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-12, msg=kind.value)
    # and the eps and v predictions above describe the same x0 for the loaders
    v_as_eps = to_epsilon(preds[PredictionType.V], x_t, T, ACP, PredictionType.V).double()
    torch.testing.assert_close(predict_x0(x_t, T, v_as_eps, ACP).double(), x0_hat, rtol=1e-4, atol=1e-4)


def test_epsilon_weights_are_the_unchanged_min_snr_formula() -> None:
    snr = ACP / (1 - ACP)
    torch.testing.assert_close(min_snr_weights(ACP, 5.0, "epsilon"), snr.clamp(max=5.0) / snr)
    # gamma <= 0: no weighting (plain MSE on the target, e.g. the v loss of arXiv 2305.08891)
    assert torch.equal(min_snr_weights(ACP, 0.0, "v_prediction"), torch.ones_like(ACP))


def test_draw_timesteps_default_is_plain_randint_and_the_bias_moves_the_stated_share() -> None:
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(draw_timesteps(64, 1000, g1), torch.randint(0, 1000, (64,), generator=g2))
    assert torch.equal(g1.get_state(), g2.get_state())  # old runs resume on the same random stream
    t = draw_timesteps(200_000, 1000, torch.Generator().manual_seed(0), high_fraction=0.5, high_from=700)
    assert t.min() >= 0 and t.max() <= 999
    # P(t >= 700) = 0.5 + 0.5 * 0.3 = 0.65; below 700 the draw stays uniform (0.35 / 700 per step)
    assert abs((t >= 700).float().mean().item() - 0.65) < 0.005
    low = torch.bincount(t[t < 700], minlength=700).float() / t.numel()
    assert abs(low.mean().item() - 0.35 / 700) < 0.02 * 0.35 / 700 and low.std().item() < 0.2 * 0.35 / 700
    with pytest.raises(ValueError, match="high_from"):
        draw_timesteps(4, 1000, torch.Generator(), high_fraction=0.5, high_from=1000)
