"""Field shading and regularisers from "DreamFusion: Text-to-3D using 2D Diffusion" (Poole et al.,
arXiv 2209.14988, section 3.1 and appendix A.2).

Normals are the negated, normalised density gradient (the field's own stored gradient where it has one,
analytic through autograd, or central finite differences). Colour is albedo times Lambertian plus ambient light from one point light per view,
sampled around the camera; the textureless mode replaces albedo by white. The orientation
regulariser penalises visible normals that face away from the camera; the opacity regularisers push
accumulated alpha to 0 or 1 (entropy) or to 0 (sparsity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from lift3d.scenes.field import Field

ShadingMode = Literal["albedo", "lambertian", "textureless"]
NormalMethod = Literal["auto", "analytic", "finite_difference"]


def field_with_normals(
    field: Field, points: torch.Tensor, method: NormalMethod = "auto", eps: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Density, albedo and unit normals ``n = -grad(density) / |grad(density)|``.

    Args:
        field: the scene.
        points: ``[N, 3]`` world points (treated as constants).
        method: ``auto`` (the field's stored gradient when it has one, :meth:`Field.forward_with_gradient`,
            e.g. a dense grid's interpolated voxel differences; else ``analytic``), ``analytic`` (autograd;
            differentiable through ``create_graph`` when grad is enabled) or ``finite_difference`` (central
            differences with step ``eps``, 6 extra density calls).
        eps: finite-difference step in world units.

    Returns:
        ``(density [N], albedo [N, 3], normals [N, 3])``.
    """
    stored = field.forward_with_gradient(points) if method == "auto" else None
    if stored is not None:
        density, albedo, grad = stored
    elif method in ("auto", "analytic"):
        train = torch.is_grad_enabled()
        with torch.enable_grad():
            pts = points.detach().requires_grad_(True)
            density, albedo = field(pts)
            if density.requires_grad:
                (grad,) = torch.autograd.grad(density.sum(), pts, create_graph=train)
            else:
                grad = torch.zeros_like(pts)
        if not train:
            density, albedo, grad = density.detach(), albedo.detach(), grad.detach()
    elif method == "finite_difference":
        density, albedo = field(points)
        offsets = torch.eye(3, device=points.device, dtype=points.dtype) * eps  # [3, 3]
        probe = torch.cat([points[:, None] + offsets, points[:, None] - offsets], dim=1)  # [N, 6, 3]
        d = field.density(probe.reshape(-1, 3)).view(-1, 2, 3)
        grad = (d[:, 0] - d[:, 1]) / (2 * eps)
    else:
        raise ValueError(f"normal method must be 'auto', 'analytic' or 'finite_difference', got {method!r}")
    return density, albedo, -torch.nn.functional.normalize(grad, dim=-1, eps=1e-12)


@dataclass
class PointLights:
    """One point light per view.

    Attributes:
        positions: ``[B, 3]`` world positions.
        ambient: ``[B]`` ambient intensity; the diffuse intensity is ``1 - ambient``.
    """

    positions: torch.Tensor
    ambient: torch.Tensor

    @staticmethod
    def sample(
        camera_positions: torch.Tensor,
        generator: torch.Generator,
        distance_range: tuple[float, float] = (0.8, 1.5),
        perturb_std: float = 1.0,
        ambient_range: tuple[float, float] = (0.1, 0.1),
    ) -> PointLights:
        """Random lights around the cameras (DreamFusion's scheme, threestudio's default ranges).

        The light direction is the camera direction plus Gaussian noise of ``perturb_std``, its
        distance from the origin uniform in ``distance_range``; ambient is uniform in ``ambient_range``.

        Args:
            camera_positions: ``[B, 3]`` camera centres.
            generator: source of randomness (on the cameras' device).
        """
        B, dev, dt = camera_positions.shape[0], camera_positions.device, camera_positions.dtype
        noise = torch.randn(B, 3, generator=generator, device=dev, dtype=dt) * perturb_std
        direction = torch.nn.functional.normalize(camera_positions + noise, dim=-1)
        lo, hi = distance_range
        dist = lo + (hi - lo) * torch.rand(B, 1, generator=generator, device=dev, dtype=dt)
        a_lo, a_hi = ambient_range
        ambient = a_lo + (a_hi - a_lo) * torch.rand(B, generator=generator, device=dev, dtype=dt)
        return PointLights(direction * dist, ambient)


def shade(
    albedo: torch.Tensor,
    normals: torch.Tensor | None,
    points: torch.Tensor,
    light_positions: torch.Tensor | None,
    ambient: torch.Tensor | None,
    mode: ShadingMode,
) -> torch.Tensor:
    """Per-sample colour ``[N, 3]``.

    ``albedo`` returns albedo; ``lambertian`` returns ``albedo * (ambient + (1 - ambient) * max(0, n.l))``
    with ``l`` the unit vector to the light; ``textureless`` is the same with albedo = 1.

    Args:
        albedo: ``[N, 3]``; normals: ``[N, 3]`` unit; points: ``[N, 3]``;
        light_positions: ``[N, 3]``; ambient: ``[N]`` (both unused for ``albedo``).
    """
    if mode == "albedo":
        return albedo
    if mode not in ("lambertian", "textureless"):
        raise ValueError(f"shading must be 'albedo', 'lambertian' or 'textureless', got {mode!r}")
    if normals is None or light_positions is None or ambient is None:
        raise ValueError(f"shading={mode!r} needs normals and lights (pass lights=PointLights(...))")
    to_light = torch.nn.functional.normalize(light_positions - points, dim=-1)
    lambert = (normals * to_light).sum(-1, keepdim=True).clamp_min(0.0)
    a = ambient[:, None]
    light = a + (1.0 - a) * lambert
    return light.expand_as(albedo) if mode == "textureless" else albedo * light


def orientation_penalty(weights: torch.Tensor, normals: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """DreamFusion's ``R_orient = sum_i stopgrad(w_i) * max(0, n_i . d)^2`` per sample.

    Args:
        weights: ``[...]`` render weights (detached here).
        normals: ``[..., 3]`` unit normals.
        directions: ``[..., 3]`` ray directions (camera to point).

    Returns:
        ``[...]`` per-sample penalty; sum it along each ray.
    """
    return weights.detach() * (normals * directions).sum(-1).clamp_min(0.0) ** 2


def orientation_loss(orientation: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Mean of the per-pixel orientation penalty over pixels with any opacity (threestudio's normaliser).

    Args:
        orientation: ``[B, H, W, 1]`` (a volume render's ``aux["orientation"]``).
        alpha: ``[B, H, W, 1]`` accumulated opacity.
    """
    return orientation.sum() / (alpha > 0).sum().clamp_min(1)


def opacity_entropy(alpha: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean binary entropy of accumulated opacity (pushes alpha to 0 or 1)."""
    a = alpha.clamp(eps, 1.0 - eps)
    return -(a * a.log() + (1 - a) * (1 - a).log()).mean()


def opacity_sparsity(alpha: torch.Tensor) -> torch.Tensor:
    """Mean accumulated opacity (an L1 push toward empty space)."""
    return alpha.mean()
