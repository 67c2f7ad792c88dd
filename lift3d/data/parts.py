"""Placed SDF primitives and their compositions, the geometry of :mod:`lift3d.data.zeroverse`.

A :class:`Part` is an exact primitive SDF (Inigo Quilez's distance functions, as :mod:`lift3d.data.sdf`)
under a rigid motion, optionally displaced by a sum of sinusoids (a height field over its surface); a
:class:`Composition` folds parts left to right by union, smooth union or difference, as in the
Zeroverse recipe of LRM-Zero (arXiv 2406.09371).

SDF validity: unions (``min``), smooth unions (IQ's polynomial ``smin``, whose gradient is a convex blend
of the operands' gradients) and differences (``max(a, -b)``) of 1-Lipschitz functions are 1-Lipschitz; a
displaced part ``d + A w(q)`` is divided by its Lipschitz bound ``1 + A mean|k|`` (same zero set). So
``|sdf(p)|`` never exceeds the distance to the surface, which is all the sphere tracer assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import trimesh
from torch import Tensor

from lift3d.data import sdf
from lift3d.data.compositions import sdf_mesh

IDENTITY: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def box_frame(p: Tensor, half: tuple[float, float, float], edge: float) -> Tensor:
    """The 12 edges of a box as square bars of half thickness ``edge`` (IQ's exact sdBoxFrame)."""
    p = p.abs() - torch.tensor(half, dtype=p.dtype, device=p.device)
    q = (p + edge).abs() - edge

    def bars(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        w = torch.stack([a, b, c], -1)
        return w.clamp_min(0.0).norm(dim=-1) + w.amax(-1).clamp_max(0.0)

    x, y, z = p.unbind(-1)
    qx, qy, qz = q.unbind(-1)
    return torch.minimum(torch.minimum(bars(x, qy, qz), bars(qx, y, qz)), bars(qx, qy, z))


def _pyramid(p: Tensor, b: float, h: float) -> Tensor:
    """:func:`lift3d.data.sdf.pyramid` (base side ``2b``, height ``2h``) with the base plane's distance inside.

    IQ's sdPyramid measures only the slanted faces inside the solid, so just above the base it returns
    about ``-h`` instead of ~0 (not 1-Lipschitz; smooth unions use interior values). Inside a convex solid
    the distance is the largest face-plane distance, hence the ``max`` with the base plane's.
    """
    return torch.maximum(sdf.pyramid(p, 2 * b, 2 * h), -(p[:, 2] + h))


def _prism(p: Tensor, a: float, b: float, c: float) -> Tensor:
    return sdf.extrude(sdf.triangle2d(p[:, [0, 2]], (-a, -c), (a, -c), (-a, c)), p[:, 1], b)


KINDS: dict[str, tuple] = {  # kind -> (sdf(local p, *params), local half extents(*params))
    "box": (lambda p, a, b, c, r: sdf.box(p, (a - r, b - r, c - r)) - r, lambda a, b, c, r: (a, b, c)),
    "sphere": (sdf.sphere, lambda r: (r, r, r)),
    "cylinder": (sdf.cylinder, lambda r, h: (r, r, h)),
    "cone": (lambda p, r, h: sdf.cone(p, r, 2 * h), lambda r, h: (r, r, h)),
    "torus": (sdf.torus, lambda R, r: (R + r, R + r, r)),
    "tube": (sdf.tube, lambda ri, ro, h: (ro, ro, h)),
    "pyramid": (_pyramid, lambda b, h: (b, b, h)),
    "prism": (_prism, lambda a, b, c: (a, b, c)),
    "frame": (lambda p, a, b, c, e: box_frame(p, (a, b, c), e), lambda a, b, c, e: (a, b, c)),
    "capsule": (sdf.capsule, lambda r, h: (r, r, h + r)),
    "ellipsoid": (lambda p, a, b, c: sdf.ellipsoid(p, (a, b, c)), lambda a, b, c: (a, b, c)),
    "octahedron": (sdf.octahedron, lambda s: (s, s, s)),
}
"""Primitive kinds (parameters are half sizes in natural units; the axis of revolution is local +Z)."""


@dataclass(frozen=True)
class Part:
    """One primitive placed in the composition and how it combines with the parts before it.

    Attributes:
        kind: a key of :data:`KINDS`. params: its parameters (half sizes).
        rotation: row-major 3x3 local -> world rotation. translation: its centre.
        op: ``"union"``, ``"smooth"`` (smooth union of radius ``blend``) or ``"subtract"``.
        blend: smooth-union radius. amplitude, waves: displacement ``amplitude * mean_i sin(k_i . q + phi_i)``
            in local coordinates ``q``, ``waves`` holding ``(kx, ky, kz, phi)`` rows (none: no displacement).
        thin: whether it is a thin-structure augmentation (for bookkeeping; geometry is in the params).
    """

    kind: str
    params: tuple[float, ...]
    rotation: tuple[float, ...] = IDENTITY
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    op: str = "union"
    blend: float = 0.0
    amplitude: float = 0.0
    waves: tuple[tuple[float, float, float, float], ...] = ()
    thin: bool = False

    def lipschitz(self) -> float:
        """Lipschitz bound of the displaced SDF (1 without displacement)."""
        return 1.0 + self.amplitude * sum(math.hypot(*w[:3]) for w in self.waves) / max(len(self.waves), 1)

    def sdf(self, p: Tensor) -> Tensor:
        """``[N, 3] -> [N]`` this part's 1-Lipschitz SDF in composition coordinates."""
        rot = torch.tensor(self.rotation, dtype=p.dtype, device=p.device).reshape(3, 3)
        q = (p - torch.tensor(self.translation, dtype=p.dtype, device=p.device)) @ rot
        d = KINDS[self.kind][0](q, *self.params)
        if self.waves:
            w = torch.tensor(self.waves, dtype=p.dtype, device=p.device)
            d = (d + self.amplitude * torch.sin(q @ w[:, :3].T + w[:, 3]).mean(-1)) / self.lipschitz()
        return d

    def half_extents(self) -> tuple[float, float, float]:
        """World-axis half extents around ``translation`` (exact for solids of revolution and boxes)."""
        local = KINDS[self.kind][1](*self.params)
        out = []
        for i in range(3):
            r = self.rotation[3 * i:3 * i + 3]  # world axis i in local coordinates
            side = math.sqrt(max(0.0, 1.0 - r[2] * r[2]))
            if self.kind == "sphere":
                h = local[0]
            elif self.kind in ("cylinder", "tube", "cone"):  # a disc swept along the local Z axis
                h = local[2] * abs(r[2]) + local[0] * side
            elif self.kind == "torus":
                h = self.params[0] * side + self.params[1]
            elif self.kind == "capsule":
                h = self.params[1] * abs(r[2]) + self.params[0]
            elif self.kind == "ellipsoid":
                h = math.sqrt(sum((c * e) ** 2 for c, e in zip(r, local)))
            elif self.kind == "octahedron":
                h = local[0] * max(abs(c) for c in r)
            else:  # |R| @ local half extents: exact for boxes and frames, a bound for pyramids and prisms
                h = sum(abs(c) * e for c, e in zip(r, local))
            out.append(h + self.amplitude)
        return tuple(out)


def _combine(part: Part, d: Tensor, e: Tensor) -> Tensor:
    """Fold part SDF ``e`` into the running SDF ``d`` by ``part.op``."""
    if part.op == "subtract":
        return torch.maximum(d, -e)
    if part.op == "smooth":  # IQ's polynomial smooth minimum
        h = (part.blend - (d - e).abs()).clamp_min(0.0) / part.blend
        return torch.minimum(d, e) - 0.25 * part.blend * h * h
    return torch.minimum(d, e)


@dataclass(frozen=True)
class Composition:
    """Parts folded left to right by their ``op``; satisfies :class:`lift3d.data.shapes.Shape`."""

    parts: tuple[Part, ...]
    name: str = "random"

    def part_distances(self, p: Tensor) -> Tensor:
        """``[N, 3] -> [N, P]`` each part's SDF."""
        return torch.stack([part.sdf(p) for part in self.parts], -1)

    def sdf(self, p: Tensor) -> Tensor:
        d = self.parts[0].sdf(p)
        for part in self.parts[1:]:
            d = _combine(part, d, part.sdf(p))
        return d

    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Conservative world-axis ``(lo, hi)`` of the unions' parts (smooth blends add ``blend / 4``)."""
        lo, hi = [math.inf] * 3, [-math.inf] * 3
        for part in self.parts:
            if part.op == "subtract":
                continue
            pad = 0.25 * part.blend if part.op == "smooth" else 0.0
            for i, h in enumerate(part.half_extents()):
                lo[i] = min(lo[i], part.translation[i] - h - pad)
                hi[i] = max(hi[i], part.translation[i] + h + pad)
        return tuple(lo), tuple(hi)

    def half_extents(self) -> tuple[float, float, float]:
        lo, hi = self.bounds()
        return tuple(max(-a, b) for a, b in zip(lo, hi))

    def centred(self) -> Composition:
        """The same shape moved so its bounding box is centred on the origin."""
        lo, hi = self.bounds()
        c = [0.5 * (a + b) for a, b in zip(lo, hi)]
        return replace(self, parts=tuple(
            replace(p, translation=tuple(t - ci for t, ci in zip(p.translation, c))) for p in self.parts))

    def mesh(self, resolution: int = 96) -> trimesh.Trimesh:
        return sdf_mesh(self.sdf, self.half_extents(), resolution)
