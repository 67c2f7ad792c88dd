"""How likely a diffusion prior finds images: the denoising error at fixed timesteps and noises.

The expected epsilon-prediction error over timesteps bounds a diffusion model's log-likelihood (its ELBO, up to
weights and constants); "Your Diffusion Model is Secretly a Zero-Shot Classifier" (Diffusion Classifier, arXiv
2303.16203) ranks labels by it. Here it ranks *images* under one condition: the prompt and the camera each image
was rendered from. The timesteps are evenly spaced over the schedule and the noises are drawn once and shared by
every image scored (common random numbers), so two images' scores differ by their content, not by the draw.
"""

from __future__ import annotations

from typing import Any

import torch

from lift3d.cameras import Cameras


class DenoisingLikelihood:
    """``score(images)``: minus the mean squared epsilon error of ``prior`` on ``images`` rendered from ``cameras``.

    Args:
        prior: a pixel- or latent-space prior (``encode``, ``add_noise``, ``predict``, ``camera_condition``).
        text: the prompt's embedding in the prior's format, batch 1 (``[1, L, D]`` text states; ``[1]`` for analytic priors).
        cameras: the V cameras the scored images come from (on the prior's device).
        timesteps: how many timesteps, evenly spaced over ``(0, num_train_timesteps)``.
        seed: the seed of the shared noises.
    """

    def __init__(self, prior: Any, text: torch.Tensor, cameras: Cameras, timesteps: int = 8, seed: int = 0) -> None:
        from lift3d.priors.base import Conditions

        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        self.prior, self.timesteps = prior, timesteps
        v, n = len(cameras), prior.num_train_timesteps
        self.t = ((torch.arange(timesteps) + 0.5) * n / timesteps).long().repeat_interleave(v)  # [T * V], view-minor
        camera = prior.camera_condition(cameras)
        self.conditions = Conditions(text=text.expand(timesteps * v, *text.shape[1:]),
                                     camera=None if camera is None else camera.repeat(timesteps, 1))
        self.seed = seed
        self.noise: torch.Tensor | None = None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> float:
        """Score of ``[V, H, W, 3]`` images in [0, 1] (higher: more likely under the prompt and cameras)."""
        from lift3d.priors.base import Branch

        x0 = self.prior.encode(images).repeat(self.timesteps, 1, 1, 1)
        if self.noise is None:
            g = torch.Generator().manual_seed(self.seed)
            self.noise = torch.randn(x0.shape, generator=g).to(x0.device, x0.dtype)
        t = self.t.to(x0.device)
        x_t = self.prior.add_noise(x0, t, self.noise)
        eps = self.prior.predict(x_t, t, self.conditions, (Branch.TEXT,))[Branch.TEXT]
        return -float(((eps - self.noise) ** 2).mean())
