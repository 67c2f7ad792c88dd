"""Ground-truth renderer of procedural objects: a sphere tracer in torch.

Sphere tracing (J. C. Hart, "Sphere tracing: a geometric method for the antialiased ray tracing of
implicit surfaces", The Visual Computer 1996) marches each ray by the SDF value until it is within
``eps`` of the surface. This is deliberately a different renderer from lift3d's Gaussian, volume and mesh
renderers, so fitting tests against it are not circular. Shading is Lambert from a fixed world-space
light plus ambient; antialiasing is ``supersample x supersample`` rays per pixel, box-filtered.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lift3d.cameras import Cameras
from lift3d.data.objects import ProceduralObject
from lift3d.types import RenderOutput

LIGHT_DIRECTION: tuple[float, float, float] = (0.48, 0.36, 0.8)
"""Unit vector toward the light in world space (front-left-above; azimuth ~37 deg, elevation ~53 deg)."""
AMBIENT: float = 0.4
"""Ambient term: shaded = albedo * (AMBIENT + (1 - AMBIENT) * max(n . l, 0))."""


def sphere_trace(obj: ProceduralObject, origins: Tensor, directions: Tensor, max_steps: int = 96,
                 eps: float = 2e-4) -> tuple[Tensor, Tensor]:
    """March rays ``[R, 3]`` against ``obj``'s SDF.

    Returns:
        ``(t [R], hit [R] bool)``: distance along each (unit) direction and whether it hit the surface.
    """
    radius = obj.bounding_radius() * 1.01 + 1e-3
    b = (origins * directions).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - radius * radius)
    sq = disc.clamp_min(0.0).sqrt()
    t = (-b - sq).clamp_min(0.0)
    t_far = -b + sq
    hit = torch.zeros_like(t, dtype=torch.bool)
    idx = torch.nonzero((disc > 0) & (t_far > 0)).squeeze(-1)
    # State of the rays in flight; finished rays are frozen and compacted away lazily (written back then).
    o, dr, ta, tf = origins[idx], directions[idx], t[idx], t_far[idx]
    live = torch.ones_like(ta, dtype=torch.bool)
    converged = torch.zeros_like(live)
    d = torch.full_like(ta, float("inf"))
    for _ in range(max_steps):
        d = obj.sdf(torch.addcmul(o, dr, ta[:, None]))
        new = live & (d < eps)
        converged |= new
        live &= ~new & (ta + d < tf)
        ta = torch.where(live, ta + d, ta)
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live < 0.6 * live.numel():
            t[idx], hit[idx] = ta, converged
            keep = live
            idx, o, dr, ta, tf, d, live = idx[keep], o[keep], dr[keep], ta[keep], tf[keep], d[keep], live[keep]
            converged = converged[keep]
    # Rays still marching after max_steps (grazing a surface) count as hits when already very close.
    t[idx], hit[idx] = ta, converged | (live & (d.abs() < 5 * eps))
    return t, hit


def sdf_normals(obj: ProceduralObject, points: Tensor, h: float = 1e-3) -> Tensor:
    """``[N, 3]`` unit SDF gradients by IQ's tetrahedron central differences ("normals for an SDF")."""
    k = torch.tensor([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], dtype=points.dtype,
                     device=points.device)
    values = obj.sdf((points[:, None, :] + h * k).reshape(-1, 3)).reshape(-1, 4)
    return torch.nn.functional.normalize(values @ k, dim=-1)


def render_object(obj: ProceduralObject, cameras: Cameras,
                  background: tuple[float, float, float] | Tensor = (1.0, 1.0, 1.0), supersample: int = 2,
                  light_direction: tuple[float, float, float] = LIGHT_DIRECTION, ambient: float = AMBIENT,
                  max_steps: int = 96) -> RenderOutput:
    """Render ``obj`` from ``cameras`` by sphere tracing.

    Args:
        obj: the object.
        cameras: B cameras of size ``H x W``.
        background: RGB ``[3]`` (or a tensor broadcastable to ``[B, H, W, 3]``) composited behind the object.
        supersample: rays per pixel along each axis (box filter); 1 traces pixel centres only.
        light_direction: direction toward the light in world space (normalised here).
        ambient: ambient term in [0, 1].
        max_steps: sphere-tracing iterations.

    Returns:
        :class:`RenderOutput` with ``rgb [B,H,W,3]`` over the background, ``alpha [B,H,W,1]`` (coverage),
        ``depth [B,H,W,1]`` camera z-depth and ``normal [B,H,W,3]`` unit world normals, both
        premultiplied by coverage (divide by alpha for the mean over the covered part; at ``alpha == 1``
        they are the values themselves), and ``aux["albedo"] [B,H,W,3]`` premultiplied albedo.
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    B, H, W, s = len(cameras), cameras.height, cameras.width, supersample
    cams = cameras.resized(W * s, H * s) if s > 1 else cameras
    origins, dirs = cams.rays()
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    with torch.no_grad():
        t, hit = sphere_trace(obj, o, d, max_steps=max_steps)
        idx = torch.nonzero(hit).squeeze(-1)
        points = o[idx] + t[idx, None] * d[idx]
        normals = sdf_normals(obj, points)
        albedo = obj.albedo(points)
    light = torch.nn.functional.normalize(torch.tensor(light_direction, dtype=o.dtype, device=o.device), dim=0)
    shaded = albedo * (ambient + (1.0 - ambient) * (normals @ light).clamp_min(0.0))[:, None]
    forward = cams.c2w[:, :3, 2].repeat_interleave(H * s * W * s, dim=0)
    z = t[idx] * (d[idx] * forward[idx]).sum(-1)

    # One scatter and one s x s box filter for all channels: [shaded 3, alpha 1, z 1, normal 3, albedo 3].
    packed = torch.zeros(o.shape[0], 11, dtype=o.dtype, device=o.device)
    packed[idx] = torch.cat([shaded, torch.ones_like(z)[:, None], z[:, None], normals, albedo], dim=-1)
    pix = packed.reshape(B, H, s, W, s, 11).sum(dim=4).sum(dim=2) / (s * s)
    alpha = pix[..., 3:4]
    bg = torch.as_tensor(background, dtype=o.dtype, device=o.device).expand(B, H, W, 3)
    rgb = pix[..., :3] + (1.0 - alpha) * bg
    return RenderOutput(rgb=rgb, alpha=alpha, depth=pix[..., 4:5], normal=pix[..., 5:8], aux={"albedo": pix[..., 8:]})
