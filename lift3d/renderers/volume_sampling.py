"""Ray-box intersection, stratified sampling and importance sampling for volume rendering (torch).

nerfacc's ``ray_aabb_intersect`` and ``importance_sampling`` need its CUDA build, so the CPU path owns
these. Importance sampling is the inverse-CDF scheme of "NeRF: Representing Scenes as Neural
Radiance Fields for View Synthesis" (Mildenhall et al., arXiv 2003.08934, section 5.2).
"""

from __future__ import annotations

import torch


def ray_aabb_intersect(
    origins: torch.Tensor, directions: torch.Tensor, aabb: torch.Tensor, near: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab-method intersection of rays with one axis-aligned box.

    Args:
        origins: ``[R, 3]`` ray origins.
        directions: ``[R, 3]`` ray directions (need not be unit; ``t`` is in their units).
        aabb: ``[6]`` box ``(xmin, ymin, zmin, xmax, ymax, zmax)``.
        near: smallest admissible ``t``; a camera inside the box starts its rays at ``near``.

    Returns:
        ``(t_near [R], t_far [R], hit [R] bool)``; where ``hit`` is False, ``t_near == t_far``.
    """
    safe = torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    inv = 1.0 / safe
    t0 = (aabb[:3] - origins) * inv
    t1 = (aabb[3:] - origins) * inv
    t_near = torch.minimum(t0, t1).amax(-1).clamp_min(near)
    t_far = torch.maximum(t0, t1).amin(-1)
    hit = t_far > t_near
    t_far = torch.where(hit, t_far, t_near)
    return t_near, t_far, hit


def stratified_bins(
    t_near: torch.Tensor, t_far: torch.Tensor, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Split each ray's ``[t_near, t_far]`` into ``num_samples`` equal intervals.

    Args:
        t_near: ``[R]`` interval starts.
        t_far: ``[R]`` interval ends.
        num_samples: intervals per ray.
        generator: if given, interior edges are jittered uniformly within their bins (stratified
            sampling); if None, edges are evenly spaced (deterministic).

    Returns:
        ``[R, num_samples + 1]`` sorted interval edges from ``t_near`` to ``t_far``.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    u = torch.linspace(0.0, 1.0, num_samples + 1, device=t_near.device, dtype=t_near.dtype)
    u = u.expand(t_near.shape[0], -1)
    if generator is not None and num_samples > 1:
        jitter = torch.rand(t_near.shape[0], num_samples - 1, generator=generator, device=t_near.device,
                            dtype=t_near.dtype)
        u = u.clone()
        u[:, 1:-1] = u[:, 1:-1] + (jitter - 0.5) / num_samples
    return t_near[:, None] + (t_far - t_near)[:, None] * u


def sample_pdf(
    edges: torch.Tensor, weights: torch.Tensor, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw positions along rays from the piecewise-constant density given by bin ``weights``.

    Args:
        edges: ``[R, S + 1]`` sorted bin edges.
        weights: ``[R, S]`` non-negative bin weights (e.g. coarse render weights); rays with all-zero
            weights sample uniformly.
        num_samples: samples per ray.
        generator: random ``u`` if given, else evenly spaced quantiles (deterministic).

    Returns:
        ``[R, num_samples]`` sorted sample positions, detached (no gradient flows through sampling).
    """
    edges, weights = edges.detach(), weights.detach()
    R, S = weights.shape
    w = weights.clamp_min(0.0) + 1e-5 / S  # keep every bin reachable, uniform fallback for empty rays
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(-1)], dim=-1).clamp_max(1.0)  # [R, S + 1]
    if generator is not None:
        u = torch.rand(R, num_samples, generator=generator, device=edges.device, dtype=edges.dtype)
    else:
        u = ((torch.arange(num_samples, device=edges.device, dtype=edges.dtype) + 0.5) / num_samples).expand(R, -1)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True).clamp(1, S)  # bin idx - 1 contains u
    cdf_lo, cdf_hi = cdf.gather(1, idx - 1), cdf.gather(1, idx)
    e_lo, e_hi = edges.gather(1, idx - 1), edges.gather(1, idx)
    frac = ((u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    return (e_lo + frac * (e_hi - e_lo)).sort(-1).values


def merge_edges(edges: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Merge extra positions ``[R, K]`` into sorted edges ``[R, S + 1]`` -> ``[R, S + K + 1]``."""
    return torch.cat([edges.detach(), extra.detach()], dim=-1).sort(-1).values
