"""How much each condition moves a bundled text prior's prediction at the zero-SNR end.

At the last timestep of the squared-cosine schedule the input is pure noise, so a v- (or x0-) prediction
network's x0 estimate is its conditional mean image: everything a sample's layout can take from the
condition is in it. For one noise, this reports the mean absolute difference of that estimate between two
prompts (the text's effect), two azimuths and two elevations (the camera's). A prior that places an object's
yaw from the camera must move it with the azimuth about as much as the training set's own camera-conditional
means move (0.136 between azimuths 0 and 45 for red cubes at elevation 30; docs/bundled_prior.md). An epsilon
network has no x0 estimate there (``eps = x_t``), so it is not measured.

``python -m lift3d.train.condition_effects FOLDER`` prints the JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

from lift3d.priors.base import PredictionType


@torch.no_grad()
def zero_snr_condition_effects(prior: Any, colour: str = "red", elevation: float = 30.0,
                               noise_seed: int = 1) -> dict[str, float] | None:
    """Mean |x0 difference| at the last timestep: ``text`` (cube vs sphere), ``azimuth`` (0 vs 45 degrees at
    ``elevation``), ``elevation`` (-10 vs 60 degrees at azimuth 0), averaged over the prompts "a {colour} cube",
    "a {colour} sphere", "a {colour} table", "a blue cube"; None for an epsilon prior."""
    if prior.prediction_type is PredictionType.EPSILON:
        return None
    prompts = [f"a {colour} cube", f"a {colour} sphere", f"a {colour} table", "a blue cube"]
    n, r, last = len(prompts), prior.latent_size, prior.num_train_timesteps - 1
    text = prior.embed_text(prompts)
    x_t = torch.randn(1, prior.channels, r, r, generator=torch.Generator().manual_seed(noise_seed)).expand(n, -1, -1, -1)
    t = torch.full((n,), last)
    alpha, sigma = prior.alphas_cumprod[last].sqrt(), (1 - prior.alphas_cumprod[last]).sqrt()

    def x0(el: float, az: float) -> torch.Tensor:
        """From the native output (converting through epsilon would divide by alpha ~ 0): v gives
        ``alpha x_t - sigma v``."""
        cam = prior.camera_condition_from_angles(torch.full((n,), el), torch.full((n,), az))
        raw = prior.forward_unet(x_t, t, text, cam, raw=True)
        return raw if prior.prediction_type is PredictionType.SAMPLE else alpha * x_t - sigma * raw

    front, turned = x0(elevation, 0.0), x0(elevation, 45.0)
    low, high = x0(-10.0, 0.0), x0(60.0, 0.0)
    return {"text": round(float((front[1] - front[0]).abs().mean()), 4),
            "azimuth": round(float((front - turned).abs().mean()), 4),
            "elevation": round(float((low - high).abs().mean()), 4)}


def main(argv: list[str] | None = None) -> None:
    from lift3d.priors.bundled import BundledPrior
    from lift3d.types import LiftError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        raise SystemExit("usage: python -m lift3d.train.condition_effects PRIOR_FOLDER (an exported bundled "
                         "prior, e.g. from 'lift3d train-prior --export-only --export-to FOLDER')")
    try:
        prior = BundledPrior.from_pretrained(args[0])
    except LiftError as error:
        raise SystemExit(f"error: {error}") from None
    print(json.dumps(zero_snr_condition_effects(prior)))


if __name__ == "__main__":
    main()
