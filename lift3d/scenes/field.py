"""The small protocol every radiance field shares (density grid, hash grid, triplane).

A field maps world points ``[N, 3]`` to a non-negative density ``[N]`` and an albedo ``[N, 3]`` in
[0, 1] inside an axis-aligned bounding box; outside the box the density is exactly zero. Renderers
call :meth:`Field.forward`, which returns both at once so fields can share features between them.

The density bias "blob" follows DreamFusion ("DreamFusion: Text-to-3D using 2D Diffusion",
arXiv 2209.14988, appendix A.2): a Gaussian bump added to the pre-activation density so that
optimisation starts from a soft ball at the centre of the box instead of empty space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


class _TruncExp(torch.autograd.Function):
    """``exp`` whose backward clamps the input at 15 (Instant-NGP's ``trunc_exp``, arXiv 2201.05989)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15.0))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    """Exponential with a gradient clamped at ``exp(15)`` (stable density activation)."""
    return _TruncExp.apply(x)


@dataclass(frozen=True)
class DensityActivation:
    """How raw field outputs become a density (shared by all fields)."""

    kind: Literal["softplus", "exp"] = "softplus"
    """``softplus`` (smooth, SJC-like) or ``exp`` (truncated exponential, Instant-NGP-like)."""
    bias: float = 0.0
    """Constant added to the raw density before the activation."""
    blob_scale: float = 0.0
    """Height of DreamFusion's Gaussian density blob added before the activation (0 disables it)."""
    blob_std: float = 0.5
    """Standard deviation of the blob, in units of the box half-size."""

    def __post_init__(self) -> None:
        if self.kind not in ("softplus", "exp"):
            raise ValueError(f"density activation must be 'softplus' or 'exp', got {self.kind!r}")
        if self.blob_std <= 0:
            raise ValueError(f"blob_std must be positive, got {self.blob_std}")

    def __call__(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Density ``[...]`` from raw outputs ``[...]`` at box coordinates ``x [..., 3]`` in ``[-1, 1]``."""
        raw = raw + self.bias
        if self.blob_scale != 0.0:
            raw = raw + self.blob_scale * torch.exp(-0.5 * (x * x).sum(-1) / self.blob_std**2)
        return trunc_exp(raw) if self.kind == "exp" else nn.functional.softplus(raw)

    def with_gradient(self, raw: torch.Tensor, raw_grad: torch.Tensor, x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Density ``[N]`` and its gradient ``[N, 3]`` w.r.t. box coordinates, by the chain rule from the raw
        value ``[N]`` and the raw gradient ``[N, 3]`` at ``x [N, 3]``."""
        z = raw + self.bias
        z_grad = raw_grad
        if self.blob_scale != 0.0:
            blob = self.blob_scale * torch.exp(-0.5 * (x * x).sum(-1) / self.blob_std**2)
            z = z + blob
            z_grad = z_grad - (blob / self.blob_std**2)[:, None] * x
        if self.kind == "exp":
            density = trunc_exp(z)
            slope = torch.exp(z.clamp(max=15.0))
        else:
            density, slope = nn.functional.softplus(z), torch.sigmoid(z)
        return density, slope[:, None] * z_grad


def density_albedo_mlp(in_dim: int, hidden_dim: int, num_hidden_layers: int, activation: type[nn.Module],
                       generator: torch.Generator | None = None) -> nn.Sequential:
    """The small MLP that decodes features to ``(pre-activation density, 3 albedo logits)``; with a
    ``generator`` every weight and bias is drawn from ``U(-1/sqrt(fan), 1/sqrt(fan))`` (seeded, reproducible)."""
    import math

    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_hidden_layers):
        layers += [nn.Linear(width, hidden_dim), activation()]
        width = hidden_dim
    layers.append(nn.Linear(width, 4))
    mlp = nn.Sequential(*layers)
    if generator is not None:
        for p in mlp.parameters():
            bound = 1.0 / math.sqrt(p.shape[-1])
            p.data.uniform_(-bound, bound, generator=generator)
    return mlp


class Field(nn.Module):
    """Base class: a density + albedo field inside ``aabb``.

    Subclasses implement :meth:`_raw` (pre-activation density ``[N]`` and albedo logits ``[N, 3]``
    for points already normalised to ``[-1, 1]^3``) and :meth:`param_groups`.

    Args:
        aabb: ``[6]`` box ``(xmin, ymin, zmin, xmax, ymax, zmax)`` in world units.
        activation: density activation and bias.
    """

    def __init__(self, aabb: torch.Tensor | tuple[float, ...], activation: DensityActivation) -> None:
        super().__init__()
        aabb_t = torch.as_tensor(aabb, dtype=torch.float32).reshape(-1)
        if aabb_t.numel() != 6 or not bool((aabb_t[3:] > aabb_t[:3]).all()):
            raise ValueError(f"aabb must be (xmin, ymin, zmin, xmax, ymax, zmax) with max > min, got {aabb}")
        self.register_buffer("aabb", aabb_t)
        # density multiplier: 1 / factor after a similarity scaling by ``factor`` keeps every render's opacity
        # (lift3d.pipelines.normalize_size); not saved, the move is stored and re-applied by its owner
        self.register_buffer("density_scale", torch.ones(()), persistent=False)
        self.activation = activation

    def normalize(self, points: torch.Tensor) -> torch.Tensor:
        """World points ``[N, 3]`` to box coordinates in ``[-1, 1]^3`` (outside the box: beyond)."""
        lo, hi = self.aabb[:3], self.aabb[3:]
        return (points - lo) / (hi - lo) * 2.0 - 1.0

    def _raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Density and albedo at world points.

        Args:
            points: ``[N, 3]`` world points.

        Returns:
            ``(density [N] >= 0, albedo [N, 3] in [0, 1])``; density is 0 outside ``aabb``.
        """
        if points.ndim != 2 or points.shape[-1] != 3:
            raise ValueError(f"points must be [N, 3], got {tuple(points.shape)}")
        x = self.normalize(points)
        inside = (x.abs() <= 1.0).all(-1)
        raw, logits = self._raw(x.clamp(-1.0, 1.0))
        density = torch.where(inside, self.activation(raw, x) * self.density_scale, torch.zeros_like(raw))
        return density, torch.sigmoid(logits)

    def forward_with_gradient(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Density ``[N]``, albedo ``[N, 3]`` and a density gradient ``[N, 3]`` w.r.t. world points in one
        query, for fields that store their own gradient (:meth:`_raw_with_gradient`); None for the others
        (callers then differentiate :meth:`forward` with autograd). Zero outside ``aabb``, as the density."""
        if type(self)._raw_with_gradient is Field._raw_with_gradient:
            return None  # no stored gradient: skip the normalisation on the shading hot path
        x = self.normalize(points)
        inside = (x.abs() <= 1.0).all(-1)
        found = self._raw_with_gradient(x.clamp(-1.0, 1.0))
        if found is None:
            return None
        raw, logits, raw_grad = found
        density, grad = self.activation.with_gradient(raw, raw_grad, x)
        grad = grad * (2.0 / (self.aabb[3:] - self.aabb[:3]) * self.density_scale)  # box coordinates -> world units
        density = torch.where(inside, density * self.density_scale, torch.zeros_like(density))
        grad = torch.where(inside[:, None], grad, torch.zeros_like(grad))
        return density, torch.sigmoid(logits), grad

    def _raw_with_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Raw density ``[N]``, albedo logits ``[N, 3]`` and the raw density's gradient ``[N, 3]`` w.r.t. box
        coordinates, or None when the field has no cheaper gradient than autograd (the default)."""
        return None

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``[N, 3]`` world points to non-negative density ``[N]`` (0 outside the box)."""
        return self.forward(points)[0]

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        """``[N, 3]`` world points to albedo ``[N, 3]`` in [0, 1]."""
        return self.forward(points)[1]

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups (``torch.optim`` dicts with ``params``, ``lr`` and ``name``)."""
        raise NotImplementedError
