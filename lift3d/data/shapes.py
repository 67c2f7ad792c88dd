"""Primitive shape families: one small frozen dataclass each, with an SDF, a bounding box and a mesh.

Each shape is centred on the origin (its bounding box is symmetric), +Z up, front facing +X, in its own
natural units; :class:`lift3d.data.objects.ProceduralObject` scales it to the requested extent.
``random(generator, variation)`` draws the proportions of one instance: ``variation=0`` gives the
canonical proportions (the midpoints of every range), ``1`` the full ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import torch
import trimesh
from torch import Tensor

from lift3d.data import sdf


def draw(generator: torch.Generator, lo: float, hi: float, variation: float) -> float:
    """A value in ``[lo, hi]``: the midpoint moved by ``variation`` times a uniform offset."""
    u = torch.rand((), generator=generator).item()
    return lo + (hi - lo) * (0.5 + variation * (u - 0.5))


class Shape(Protocol):
    """What every shape family provides."""

    name: ClassVar[str]

    def sdf(self, p: Tensor) -> Tensor:
        """``[N, 3] -> [N]`` signed distance (negative inside)."""
        ...

    def half_extents(self) -> tuple[float, float, float]:
        """Half sizes of the axis-aligned bounding box (centred on the origin)."""
        ...

    def mesh(self, resolution: int) -> trimesh.Trimesh:
        """A watertight triangle mesh of the surface; ``resolution`` sets its tessellation."""
        ...


def _hull(vertices: list[tuple[float, float, float]]) -> trimesh.Trimesh:
    return trimesh.convex.convex_hull(np.asarray(vertices, dtype=np.float64))


@dataclass(frozen=True)
class Sphere:
    name: ClassVar[str] = "sphere"
    radius: float = 0.5

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Sphere:
        return cls(0.5)

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.sphere(p, self.radius)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.radius,) * 3

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.icosphere(subdivisions=max(2, int(np.log2(max(resolution, 8))) - 2), radius=self.radius)


@dataclass(frozen=True)
class Cube:
    name: ClassVar[str] = "cube"
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Cube:
        return cls(tuple(draw(g, 0.85, 1.0, variation) for _ in range(3)))

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.box(p, self.half_extents())

    def half_extents(self) -> tuple[float, float, float]:
        return tuple(0.5 * s for s in self.size)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.box(extents=self.size)


@dataclass(frozen=True)
class Cylinder:
    name: ClassVar[str] = "cylinder"
    radius: float = 0.45
    height: float = 1.0

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Cylinder:
        return cls(draw(g, 0.3, 0.6, variation), 1.0)

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.cylinder(p, self.radius, 0.5 * self.height)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.radius, self.radius, 0.5 * self.height)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.cylinder(self.radius, self.height, sections=resolution)


@dataclass(frozen=True)
class Tube:
    name: ClassVar[str] = "tube"
    inner_radius: float = 0.3
    outer_radius: float = 0.5
    height: float = 1.0

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Tube:
        outer = 0.5
        return cls(outer * draw(g, 0.45, 0.75, variation), outer, draw(g, 0.6, 1.2, variation))

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.tube(p, self.inner_radius, self.outer_radius, 0.5 * self.height)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.outer_radius, self.outer_radius, 0.5 * self.height)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.annulus(self.inner_radius, self.outer_radius, self.height, sections=resolution)


@dataclass(frozen=True)
class Cone:
    name: ClassVar[str] = "cone"
    radius: float = 0.55
    height: float = 1.0

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Cone:
        return cls(draw(g, 0.35, 0.6, variation), 1.0)

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.cone(p, self.radius, self.height)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.radius, self.radius, 0.5 * self.height)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        m = trimesh.creation.cone(self.radius, self.height, sections=resolution)
        return m.apply_translation((0.0, 0.0, -0.5 * self.height))


@dataclass(frozen=True)
class Torus:
    name: ClassVar[str] = "torus"
    major_radius: float = 0.45
    minor_radius: float = 0.2

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Torus:
        return cls(0.45, draw(g, 0.12, 0.25, variation))

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.torus(p, self.major_radius, self.minor_radius)

    def half_extents(self) -> tuple[float, float, float]:
        r = self.major_radius + self.minor_radius
        return (r, r, self.minor_radius)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.torus(self.major_radius, self.minor_radius, major_sections=resolution,
                                      minor_sections=max(16, resolution // 2))


@dataclass(frozen=True)
class Capsule:
    name: ClassVar[str] = "capsule"
    radius: float = 0.25
    length: float = 0.5
    """Length of the straight (cylindrical) part."""

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Capsule:
        r = draw(g, 0.18, 0.32, variation)
        return cls(r, 1.0 - 2 * r)

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.capsule(p, self.radius, 0.5 * self.length)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.radius, self.radius, 0.5 * self.length + self.radius)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        return trimesh.creation.capsule(height=self.length, radius=self.radius, count=[resolution, resolution])


@dataclass(frozen=True)
class Ellipsoid:
    name: ClassVar[str] = "ellipsoid"
    radii: tuple[float, float, float] = (0.5, 0.35, 0.3)

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Ellipsoid:
        return cls((0.5, draw(g, 0.25, 0.4, variation), draw(g, 0.22, 0.38, variation)))

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.ellipsoid(p, self.radii)

    def half_extents(self) -> tuple[float, float, float]:
        return self.radii

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        m = Sphere(1.0).mesh(resolution)
        return m.apply_scale(self.radii)


@dataclass(frozen=True)
class Pyramid:
    name: ClassVar[str] = "pyramid"
    base: float = 1.0
    height: float = 0.9

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Pyramid:
        return cls(1.0, draw(g, 0.6, 1.1, variation))

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.pyramid(p, self.base, self.height)

    def half_extents(self) -> tuple[float, float, float]:
        return (0.5 * self.base, 0.5 * self.base, 0.5 * self.height)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        b, h = 0.5 * self.base, 0.5 * self.height
        return _hull([(sx * b, sy * b, -h) for sx in (-1, 1) for sy in (-1, 1)] + [(0.0, 0.0, h)])


@dataclass(frozen=True)
class Octahedron:
    name: ClassVar[str] = "octahedron"
    size: float = 0.5
    """Distance from the centre to each vertex."""

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Octahedron:
        return cls(0.5)

    def sdf(self, p: Tensor) -> Tensor:
        return sdf.octahedron(p, self.size)

    def half_extents(self) -> tuple[float, float, float]:
        return (self.size,) * 3

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        s = self.size
        return _hull([(s, 0, 0), (-s, 0, 0), (0, s, 0), (0, -s, 0), (0, 0, s), (0, 0, -s)])


@dataclass(frozen=True)
class Wedge:
    """A ramp: a right triangular prism whose slope faces the front (+X) and whose tall face is at -X."""

    name: ClassVar[str] = "wedge"
    length: float = 1.0
    """Extent along X (front to back)."""
    width: float = 0.7
    """Extent along Y."""
    height: float = 0.7
    """Extent along Z."""

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Wedge:
        return cls(1.0, draw(g, 0.5, 0.9, variation), draw(g, 0.5, 0.9, variation))

    def _triangle(self) -> tuple[tuple[float, float], ...]:
        a, h = 0.5 * self.length, 0.5 * self.height
        return ((-a, -h), (a, -h), (-a, h))  # (x, z): base, front toe, back top

    def sdf(self, p: Tensor) -> Tensor:
        d2 = sdf.triangle2d(p[:, [0, 2]], *self._triangle())
        return sdf.extrude(d2, p[:, 1], 0.5 * self.width)

    def half_extents(self) -> tuple[float, float, float]:
        return (0.5 * self.length, 0.5 * self.width, 0.5 * self.height)

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        w = 0.5 * self.width
        return _hull([(x, y, z) for (x, z) in self._triangle() for y in (-w, w)])


PRIMITIVES: tuple[type, ...] = (Sphere, Cube, Cylinder, Tube, Cone, Torus, Capsule, Ellipsoid, Pyramid,
                                Octahedron, Wedge)
"""Primitive families, in a fixed order (their index is part of the dataset's label space)."""
