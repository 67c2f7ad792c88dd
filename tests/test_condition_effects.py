"""The zero-SNR condition-effect measurement against closed forms on stand-in priors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lift3d.priors.base import PredictionType
from lift3d.priors.bundled import camera_condition_from_angles, pixel_scheduler
from lift3d.train.condition_effects import main, zero_snr_condition_effects


class _StandIn:
    """A prior whose native output is known: channel c of every pixel is ``camera[c] + text_code`` (an x0 or,
    for v, ``-x0`` times ``1 / sigma``), so each effect is a closed form."""

    def __init__(self, prediction_type: PredictionType) -> None:
        self.prediction_type = prediction_type
        self.alphas_cumprod = torch.as_tensor(pixel_scheduler().alphas_cumprod).float()
        self.num_train_timesteps, self.latent_size, self.channels = 1000, 4, 3
        self.seen_t: list[int] = []

    def embed_text(self, prompts: list[str]) -> torch.Tensor:
        return torch.tensor([[float("sphere" in p) + 2 * float("table" in p)] for p in prompts])[:, :, None]

    def camera_condition_from_angles(self, elevation: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
        return camera_condition_from_angles(elevation, azimuth, 1)

    def x0(self, text: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        return (camera + text[:, 0])[:, :, None, None].expand(-1, -1, 4, 4)

    def forward_unet(self, x_t, t, text, camera, raw=False):
        assert raw
        self.seen_t += t.tolist()
        x0 = self.x0(text, camera)
        if self.prediction_type is PredictionType.SAMPLE:
            return x0
        a, s = self.alphas_cumprod[-1].sqrt(), (1 - self.alphas_cumprod[-1]).sqrt()
        return (a * x_t - x0) / s  # so that alpha x_t - sigma v = x0 (up to a^2 x_t ~ 0)


def test_effects_are_the_closed_form_differences_of_the_conditional_mean() -> None:
    prior = _StandIn(PredictionType.SAMPLE)
    out = zero_snr_condition_effects(prior)
    assert set(prior.seen_t) == {999}
    cond = lambda el, az: camera_condition_from_angles(torch.tensor([el]), torch.tensor([az]), 1)[0]  # noqa: E731
    assert out["text"] == round(1.0, 4)  # sphere's code 1 vs cube's 0, in every channel
    assert abs(out["azimuth"] - float((cond(30, 0) - cond(30, 45)).abs().mean())) < 1e-4
    assert abs(out["elevation"] - float((cond(-10, 0) - cond(60, 0)).abs().mean())) < 1e-4
    v = zero_snr_condition_effects(_StandIn(PredictionType.V))
    for k in out:
        assert abs(v[k] - out[k]) < 1e-3, k


def test_epsilon_priors_are_not_measured() -> None:
    assert zero_snr_condition_effects(_StandIn(PredictionType.EPSILON)) is None


def test_cli_bad_folder_is_one_line(tmp_path: Path) -> None:
    """A folder without a prior and ``--help`` exit with one line (usage or what is missing), no traceback."""
    with pytest.raises(SystemExit) as missing:
        main([str(tmp_path)])
    assert "model_index.json missing" in str(missing.value) and "\n" not in str(missing.value)
    with pytest.raises(SystemExit) as usage:
        main(["--help"])
    assert str(usage.value).startswith("usage:")
