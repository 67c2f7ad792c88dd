"""Signed distance functions of primitives, in torch (negative inside, +Z up).

The formulas are Inigo Quilez's ("Distance functions", https://iquilezles.org/articles/distfunctions/
and "2D distance functions", https://iquilezles.org/articles/distfunctions2d/), rewritten for torch with
+Z as the up axis. Every function takes ``p`` of shape ``[N, 3]`` (or ``[N, 2]`` for the 2D ones) and
returns ``[N]``. All are exact Euclidean distances except :func:`ellipsoid`, which is a 1-Lipschitz lower
bound (safe for sphere tracing, exact zero set).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _radial(p: Tensor) -> Tensor:
    """``[N, 3] -> [N, 2]``: (distance from the Z axis, z) for solids of revolution."""
    return torch.stack([p[:, :2].norm(dim=-1), p[:, 2]], dim=-1)


def extrude(d2: Tensor, z: Tensor, half_height: float) -> Tensor:
    """Exact extrusion of a 2D SDF ``d2 [N]`` along an axis with coordinate ``z [N]`` (IQ's opExtrusion)."""
    w = torch.stack([d2, z.abs() - half_height], dim=-1)
    return w.amax(dim=-1).clamp_max(0.0) + w.clamp_min(0.0).norm(dim=-1)


def sphere(p: Tensor, radius: float) -> Tensor:
    """Sphere of ``radius`` centred at the origin."""
    return p.norm(dim=-1) - radius


def box(p: Tensor, half_extents: tuple[float, float, float]) -> Tensor:
    """Axis-aligned box with ``half_extents`` (IQ's sdBox)."""
    q = p.abs() - torch.tensor(half_extents, dtype=p.dtype, device=p.device)
    return q.clamp_min(0.0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0.0)


def cylinder(p: Tensor, radius: float, half_height: float) -> Tensor:
    """Capped cylinder around Z spanning ``z in [-half_height, half_height]`` (IQ's sdCappedCylinder)."""
    return extrude(p[:, :2].norm(dim=-1) - radius, p[:, 2], half_height)


def tube(p: Tensor, inner_radius: float, outer_radius: float, half_height: float) -> Tensor:
    """Hollow cylinder (an extruded annulus, IQ's opOnion of a circle then opExtrusion)."""
    mid, half_thick = 0.5 * (inner_radius + outer_radius), 0.5 * (outer_radius - inner_radius)
    return extrude((p[:, :2].norm(dim=-1) - mid).abs() - half_thick, p[:, 2], half_height)


def torus(p: Tensor, major_radius: float, minor_radius: float) -> Tensor:
    """Torus lying in the XY plane (IQ's sdTorus)."""
    q = torch.stack([p[:, :2].norm(dim=-1) - major_radius, p[:, 2]], dim=-1)
    return q.norm(dim=-1) - minor_radius


def capsule(p: Tensor, radius: float, half_length: float) -> Tensor:
    """Vertical capsule: segment ``z in [-half_length, half_length]`` swept by a ball (IQ's sdVerticalCapsule)."""
    q = p.clone()
    q[:, 2] = p[:, 2] - p[:, 2].clamp(-half_length, half_length)
    return q.norm(dim=-1) - radius


def cone(p: Tensor, radius: float, height: float) -> Tensor:
    """Cone with its base (``radius``) at ``z = -height/2`` and apex at ``z = +height/2`` (IQ's exact sdCone)."""
    w = _radial(p)
    w = torch.stack([w[:, 0], w[:, 1] - 0.5 * height], dim=-1)  # apex at the origin of w
    q = torch.tensor([radius, -height], dtype=p.dtype, device=p.device)
    a = w - q * (w @ q / (q @ q)).clamp(0.0, 1.0)[:, None]
    b = w - q * torch.stack([(w[:, 0] / q[0]).clamp(0.0, 1.0), torch.ones_like(w[:, 0])], dim=-1)
    k = torch.sign(q[1])
    d = torch.minimum((a * a).sum(-1), (b * b).sum(-1))
    s = torch.maximum(k * (w[:, 0] * q[1] - w[:, 1] * q[0]), k * (w[:, 1] - q[1]))
    return d.sqrt() * torch.sign(s)


def ellipsoid(p: Tensor, radii: tuple[float, float, float]) -> Tensor:
    """Ellipsoid with semi-axes ``radii``: ``(|p / r| - 1) * min(r)``, a 1-Lipschitz bound with the exact zero set."""
    r = torch.tensor(radii, dtype=p.dtype, device=p.device)
    return ((p / r).norm(dim=-1) - 1.0) * r.min()


def octahedron(p: Tensor, size: float) -> Tensor:
    """Regular octahedron with vertices at ``+-size`` on each axis (IQ's exact sdOctahedron)."""
    p = p.abs()
    m = p.sum(-1) - size
    # Permute so the coordinate that satisfies 3 p_i < m comes first (x, then y, then z).
    qx = torch.where(3 * p[:, 0] < m, 0, torch.where(3 * p[:, 1] < m, 1, 2))
    perms = torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]], device=p.device)
    q = torch.gather(p, 1, perms[qx])
    k = (0.5 * (q[:, 2] - q[:, 1] + size)).clamp(0.0, size)
    inner = torch.stack([q[:, 0], q[:, 1] - size + k, q[:, 2] - k], dim=-1).norm(dim=-1)
    face = (3 * p < m[:, None]).any(dim=-1)
    return torch.where(face, inner, m * 0.57735027)


def pyramid(p: Tensor, base: float, height: float) -> Tensor:
    """Square pyramid, base side ``base`` at ``z = -height/2``, apex at ``+height/2`` (IQ's exact sdPyramid)."""
    p = p / base
    h = height / base
    y = p[:, 2] + 0.5 * h  # IQ's formula has the base at y = 0
    ax, az = p[:, 0].abs(), p[:, 1].abs()
    x, z = torch.maximum(ax, az) - 0.5, torch.minimum(ax, az) - 0.5
    m2 = h * h + 0.25
    qx, qy, qz = z, h * y - 0.5 * x, h * x + 0.5 * y
    s = (-qx).clamp_min(0.0)
    t = ((qy - 0.5 * z) / (m2 + 0.25)).clamp(0.0, 1.0)
    a = m2 * (qx + s) ** 2 + qy * qy
    b = m2 * (qx + 0.5 * t) ** 2 + (qy - m2 * t) ** 2
    d2 = torch.where(torch.minimum(qy, -qx * m2 - qy * 0.5) > 0.0, torch.zeros_like(a), torch.minimum(a, b))
    d = ((d2 + qz * qz) / m2).sqrt() * torch.sign(torch.maximum(qz, -y))
    # Below the base the nearest point is on the base square (the branch IQ adds for p.y <= 0).
    under = torch.stack([x.clamp_min(0.0), z.clamp_min(0.0), y], dim=-1).norm(dim=-1)
    return base * torch.where(y <= 0.0, under, d)


def triangle2d(p: Tensor, v0: tuple[float, float], v1: tuple[float, float], v2: tuple[float, float]) -> Tensor:
    """Exact 2D distance to a triangle ``[N, 2] -> [N]`` (IQ's sdTriangle)."""
    v = [torch.tensor(vi, dtype=p.dtype, device=p.device) for vi in (v0, v1, v2)]
    edges = [v[1] - v[0], v[2] - v[1], v[0] - v[2]]
    dists, signs = [], []
    for vi, e in zip(v, edges):
        w = p - vi
        proj = w - e * ((w @ e) / (e @ e)).clamp(0.0, 1.0)[:, None]
        dists.append((proj * proj).sum(-1))
        signs.append(w[:, 0] * e[1] - w[:, 1] * e[0])
    orient = torch.sign(edges[0][0] * edges[2][1] - edges[0][1] * edges[2][0])
    s = torch.stack([orient * si for si in signs], dim=-1)
    d = torch.stack(dists, dim=-1).amin(-1).sqrt()
    return -d * torch.sign(s.amin(-1))


def cut_sphere(p: Tensor, radius: float, cut: float) -> Tensor:
    """The part of a sphere above the plane ``z = cut`` (IQ's exact sdCutSphere); ``cut=0`` is a dome."""
    w = (radius * radius - cut * cut) ** 0.5
    q = _radial(p)
    s = torch.maximum((cut - radius) * q[:, 0] ** 2 + w * w * (cut + radius - 2.0 * q[:, 1]),
                      cut * q[:, 0] - w * q[:, 1])
    rim = (q - torch.tensor([w, cut], dtype=p.dtype, device=p.device)).norm(dim=-1)
    return torch.where(s < 0.0, q.norm(dim=-1) - radius, torch.where(q[:, 0] < w, cut - q[:, 1], rim))
