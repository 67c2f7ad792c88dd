"""Priors whose exact denoiser is known in closed form: point masses and isotropic Gaussian mixtures.

For data ``x0 ~ sum_k pi_k N(mu_k, v I)`` and ``z_t = alpha x0 + sigma eps`` the marginal is
``z_t ~ sum_k pi_k N(alpha mu_k, (alpha^2 v + sigma^2) I)`` and the MMSE denoiser is

    r_k(z)  = softmax_k( log pi_k - ||z - alpha mu_k||^2 / (2 (alpha^2 v + sigma^2)) )
    E[x0|z] = sum_k r_k (mu_k + alpha v / (alpha^2 v + sigma^2) (z - alpha mu_k))
    eps*(z) = (z - alpha E[x0|z]) / sigma

A point mass at ``x*`` (one component, ``v = 0``) gives ``eps*(z_t) = (z_t - alpha x*) / sigma``.
These make every guidance loss exactly testable, and "fit to reference views" is a point-mass
prior per view. Samples live in pixel space ``[-1, 1]`` (3 channels).

Conditioning: an :class:`AnalyticPrior` holds a list of distributions; each branch embedding in
:class:`~lift3d.priors.base.Conditions` is a ``[B]`` integer index into that list. A distribution
may hold one mixture per view; the camera condition (``spherical_camera_condition``) picks the view
whose azimuth is nearest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lift3d.cameras import Cameras
from lift3d.priors.base import (
    Branch,
    Conditions,
    PredictionType,
    schedule_coefficients,
    sd_alphas_cumprod,
    spherical_camera_condition,
    vp_add_noise,
)


class GaussianMixture(torch.nn.Module):
    """An isotropic Gaussian mixture over images, optionally one mixture per view.

    Args:
        means: ``[V, K, C, h, w]`` (or ``[K, C, h, w]`` for one view) component means in [-1, 1].
        variance: per-pixel variance ``v`` shared by all components (0 = point masses).
        weights: ``[V, K]`` or ``[K]`` mixture weights (default uniform).
        view_azimuths_deg: ``[V]`` azimuth of each view's mixture (needed when V > 1).
    """

    def __init__(self, means: torch.Tensor, variance: float = 0.0, weights: torch.Tensor | None = None,
                 view_azimuths_deg: torch.Tensor | None = None) -> None:
        super().__init__()
        if means.ndim == 4:
            means = means[None]
        if means.ndim != 5:
            raise ValueError(f"means must be [K, C, h, w] or [V, K, C, h, w], got {tuple(means.shape)}")
        if variance < 0:
            raise ValueError(f"variance must be >= 0, got {variance}")
        v, k = means.shape[:2]
        if weights is None:
            weights = torch.full((v, k), 1.0 / k)
        weights = weights.reshape(-1, k).expand(v, k)
        if v > 1 and (view_azimuths_deg is None or view_azimuths_deg.shape != (v,)):
            raise ValueError(f"a mixture with {v} views needs view_azimuths_deg of shape [{v}]")
        self.register_buffer("means", means.float())
        self.register_buffer("log_weights", weights.float().clamp_min(1e-30).log())
        self.register_buffer("view_azimuths_deg", torch.zeros(1) if view_azimuths_deg is None
                             else view_azimuths_deg.float())
        self.variance = float(variance)

    def view_index(self, camera: torch.Tensor | None, batch: int) -> torch.Tensor:
        """``[B]`` index of the view mixture for each sample (nearest azimuth; 0 without cameras)."""
        if self.means.shape[0] == 1 or camera is None:
            return torch.zeros(batch, dtype=torch.long, device=self.means.device)
        az = torch.rad2deg(torch.atan2(camera[:, 1], camera[:, 2]))
        diff = (az[:, None] - self.view_azimuths_deg[None].to(az)) % 360.0
        return torch.minimum(diff, 360.0 - diff).argmin(dim=1)

    def posterior_mean(self, z: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor,
                       view: torch.Tensor) -> torch.Tensor:
        """Exact ``E[x0 | z_t]`` for ``z`` ``[B, C, h, w]``, ``alpha``/``sigma`` ``[B, 1, 1, 1]``, ``view`` ``[B]``."""
        mu = self.means[view].double()  # [B, K, C, h, w]
        zd, a, s = z.double()[:, None], alpha.double()[:, None], sigma.double()[:, None]
        total = a**2 * self.variance + s**2  # [B, 1, 1, 1, 1]
        sq = ((zd - a * mu) ** 2).flatten(2).sum(-1)  # [B, K]
        resp = torch.softmax(self.log_weights[view].double() - sq / (2 * total.flatten(1)), dim=1)
        cond_mean = mu + (a * self.variance / total) * (zd - a * mu)
        return (resp[..., None, None, None] * cond_mean).sum(1).to(z.dtype)


class AnalyticPrior(torch.nn.Module):
    """A :class:`~lift3d.priors.base.DiffusionPrior` with exact denoisers over a list of mixtures.

    Args:
        distributions: the conditional distributions; a branch embedding ``i`` selects ``distributions[i]``.
        resolution: image side of the sample space (images are bilinearly resized to it).
        alphas_cumprod: ``[T]`` schedule (default: Stable Diffusion's scaled-linear, T = 1000).
    """

    prediction_type = PredictionType.EPSILON
    channels = 3

    def __init__(self, distributions: Sequence[GaussianMixture], resolution: int,
                 alphas_cumprod: torch.Tensor | None = None) -> None:
        super().__init__()
        if not distributions:
            raise ValueError("AnalyticPrior needs at least one distribution")
        for d in distributions:
            if d.means.shape[-2:] != (resolution, resolution) or d.means.shape[-3] != 3:
                raise ValueError(f"mixture means must be [.., 3, {resolution}, {resolution}], "
                                 f"got {tuple(d.means.shape)}")
        self.distributions = torch.nn.ModuleList(distributions)
        self.resolution = resolution
        acp = sd_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod.float()
        self.register_buffer("alphas_cumprod", acp)
        self.num_train_timesteps = acp.shape[0]

    @classmethod
    def point_mass(cls, images: torch.Tensor, distractors: torch.Tensor | None = None, uncond_variance: float = 1e-3,
                   negative: torch.Tensor | None = None) -> AnalyticPrior:
        """A "fit these images" prior.

        Index 0 (text) = a point mass at ``images`` ``[1, H, W, 3]`` (or ``[V, H, W, 3]``: V views
        evenly spaced in azimuth from 0). Index 1 (uncond) = "all images": a mixture, with variance
        ``uncond_variance``, of the target and ``distractors`` ``[D, H, W, 3]`` (default: the
        inverted target, black and white), per view. Index 2 (negative, optional) = a point mass at
        ``negative`` ``[1, H, W, 3]``.
        """
        target = images_to_samples(images)  # [V, 3, h, w]
        views = target.shape[0]
        az = torch.arange(views) * (360.0 / views) if views > 1 else None
        if distractors is None:
            others = torch.stack([-target, -torch.ones_like(target), torch.ones_like(target)], dim=1)
        else:
            others = images_to_samples(distractors, target.shape[-1])[None].expand(views, -1, -1, -1, -1)
        dists = [GaussianMixture(target[:, None], 0.0, view_azimuths_deg=az),
                 GaussianMixture(torch.cat([target[:, None], others], dim=1), uncond_variance, view_azimuths_deg=az)]
        if negative is not None:
            dists.append(GaussianMixture(images_to_samples(negative, target.shape[-1])[:, None], 0.0))
        return cls(dists, resolution=target.shape[-1])

    @staticmethod
    def conditions(batch: int, text: int = 0, uncond: int | None = 1, negative: int | None = None,
                   source: int | None = None, camera: torch.Tensor | None = None) -> Conditions:
        """:class:`Conditions` whose branch embeddings are distribution indices (view-independent = text)."""
        def idx(i: int | None) -> torch.Tensor | None:
            return None if i is None else torch.full((batch,), i, dtype=torch.long)

        return Conditions(text=idx(text), uncond=idx(uncond), negative=idx(negative), source=idx(source),
                          view_independent=idx(text), camera=camera)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, H, W, 3]`` in [0, 1] -> ``[B, 3, r, r]`` in [-1, 1] (bilinear resize, differentiable)."""
        return images_to_samples(images, self.resolution)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, r, r]`` in [-1, 1] -> ``[B, r, r, 3]`` in [0, 1]."""
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return vp_add_noise(self.alphas_cumprod, x0, t, noise)

    def camera_condition(self, cameras: Cameras) -> torch.Tensor:
        return spherical_camera_condition(cameras)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, index: torch.Tensor,
                camera: torch.Tensor | None) -> torch.Tensor:
        """Exact ``E[x0 | z_t]`` ``[B, 3, r, r]`` under distribution ``index`` ``[B]`` per sample."""
        alpha, sigma = schedule_coefficients(self.alphas_cumprod, t, x_t.ndim)
        out = torch.empty_like(x_t)
        index = index.long().reshape(-1).expand(x_t.shape[0])
        for i in index.unique().tolist():
            if not 0 <= i < len(self.distributions):
                raise ValueError(f"distribution index {i} out of range; this prior has {len(self.distributions)}")
            sel = (index == i).nonzero().squeeze(1)
            dist = self.distributions[i]
            view = dist.view_index(None if camera is None else camera[sel], len(sel))
            out[sel] = dist.posterior_mean(x_t[sel], alpha[sel], sigma[sel], view)
        return out

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, conditions: Conditions,
                branches: Sequence[Branch]) -> dict[Branch, torch.Tensor]:
        """Exact epsilon ``(z_t - alpha E[x0|z_t]) / sigma`` per branch."""
        alpha, sigma = schedule_coefficients(self.alphas_cumprod, t, x_t.ndim)
        out = {}
        for branch in branches:
            x0 = self.denoise(x_t, t, conditions.embedding(branch), conditions.camera)
            out[Branch(branch)] = (x_t - alpha * x0) / sigma
        return out


def images_to_samples(images: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
    """``[B, H, W, 3]`` in [0, 1] -> ``[B, 3, r, r]`` in [-1, 1], bilinear (align_corners False) if resizing."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3] in [0, 1], got {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2).float()
    if resolution is not None and x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False)
    return x * 2.0 - 1.0
