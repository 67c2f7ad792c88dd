"""Composite shape families (unions of primitives): mushroom, table, snowman.

Union is ``min`` of the parts' SDFs (exact outside the union, a bound inside; IQ's opUnion). Each family
builds in natural coordinates resting on ``z = 0`` and shifts itself so its bounding box is centred on
the origin. Meshes come from marching cubes of the SDF (:func:`sdf_mesh`), which is watertight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import mcubes
import numpy as np
import torch
import trimesh
from torch import Tensor

from lift3d.data import sdf
from lift3d.data.shapes import draw


def sdf_mesh(fn: Callable[[Tensor], Tensor], half_extents: tuple[float, float, float],
             resolution: int = 96) -> trimesh.Trimesh:
    """Watertight mesh of the zero set of ``fn`` by marching cubes (PyMCubes) on a grid padded around the box.

    Args:
        fn: ``[N, 3] -> [N]`` signed distance.
        half_extents: half sizes of the shape's bounding box (centred on the origin).
        resolution: grid cells along the longest side.
    """
    h = np.asarray(half_extents, dtype=np.float64)
    step = 2 * h.max() / resolution
    # Offset the grid by an irrational fraction of a cell so flat faces never lie exactly on grid planes
    # (exact zeros there give degenerate, non-manifold triangles).
    lo, hi = -h - 2.382 * step, h + 2 * step
    axes = [np.arange(lo[i], hi[i] + 0.5 * step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    with torch.no_grad():
        values = fn(torch.from_numpy(grid.reshape(-1, 3)).float()).reshape(grid.shape[:3]).double().numpy()
    verts, faces = mcubes.marching_cubes(-values, 0.0)  # mcubes: inside where values > iso
    verts = verts * step + lo
    mesh = trimesh.Trimesh(verts, faces[:, ::-1], process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _shift(p: Tensor, dz: float, dx: float = 0.0) -> Tensor:
    return p - torch.tensor([dx, 0.0, dz], dtype=p.dtype, device=p.device)


@dataclass(frozen=True)
class Mushroom:
    """A cylindrical stem under a domed cap (a cut sphere)."""

    name: ClassVar[str] = "mushroom"
    stem_radius: float = 0.14
    stem_height: float = 0.55
    cap_radius: float = 0.5
    cap_cut: float = 0.0
    """Height of the cap's cutting plane above the sphere centre (negative: more than a hemisphere)."""

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Mushroom:
        r = draw(g, 0.4, 0.5, variation)
        return cls(draw(g, 0.1, 0.18, variation), draw(g, 0.45, 0.65, variation), r,
                   r * draw(g, -0.3, 0.2, variation))

    def _cap_centre(self) -> float:
        return self.stem_height - 0.05 - self.cap_cut

    def _height(self) -> float:
        return self._cap_centre() + self.cap_radius

    def sdf(self, p: Tensor) -> Tensor:
        p = _shift(p, -0.5 * self._height())
        stem = sdf.cylinder(_shift(p, 0.5 * self.stem_height), self.stem_radius, 0.5 * self.stem_height)
        cap = sdf.cut_sphere(_shift(p, self._cap_centre()), self.cap_radius, self.cap_cut)
        return torch.minimum(stem, cap)

    def half_extents(self) -> tuple[float, float, float]:
        rim = self.cap_radius if self.cap_cut < 0 else (self.cap_radius**2 - self.cap_cut**2) ** 0.5
        r = max(rim, self.stem_radius)
        return (r, r, 0.5 * self._height())

    def mesh(self, resolution: int = 96) -> trimesh.Trimesh:
        return sdf_mesh(self.sdf, self.half_extents(), resolution)


@dataclass(frozen=True)
class Table:
    """A rectangular top on four square legs."""

    name: ClassVar[str] = "table"
    length: float = 1.0
    width: float = 0.8
    height: float = 0.65
    top_thickness: float = 0.08
    leg_width: float = 0.08

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Table:
        return cls(1.0, draw(g, 0.6, 1.0, variation), draw(g, 0.5, 0.8, variation),
                   draw(g, 0.06, 0.1, variation), draw(g, 0.06, 0.1, variation))

    def sdf(self, p: Tensor) -> Tensor:
        p = _shift(p, -0.5 * self.height)
        t = self.top_thickness
        d = sdf.box(_shift(p, self.height - 0.5 * t), (0.5 * self.length, 0.5 * self.width, 0.5 * t))
        leg_h = 0.5 * (self.height - t)
        lx, ly = 0.5 * (self.length - self.leg_width), 0.5 * (self.width - self.leg_width)
        # The four legs by symmetry: fold x and y into the positive quadrant (IQ's opSymX/opSymZ).
        q = torch.stack([p[:, 0].abs() - lx, p[:, 1].abs() - ly, p[:, 2] - leg_h], dim=-1)
        legs = sdf.box(q, (0.5 * self.leg_width, 0.5 * self.leg_width, leg_h))
        return torch.minimum(d, legs)

    def half_extents(self) -> tuple[float, float, float]:
        return (0.5 * self.length, 0.5 * self.width, 0.5 * self.height)

    def mesh(self, resolution: int = 96) -> trimesh.Trimesh:
        return sdf_mesh(self.sdf, self.half_extents(), resolution)


@dataclass(frozen=True)
class Snowman:
    """Three stacked balls with a conical nose pointing to the front (+X)."""

    name: ClassVar[str] = "snowman"
    radii: tuple[float, float, float] = (0.3, 0.22, 0.15)
    overlap: float = 0.2
    """Fraction of the smaller ball's radius by which consecutive balls interpenetrate."""

    @classmethod
    def random(cls, g: torch.Generator, variation: float = 1.0) -> Snowman:
        r0 = 0.3
        r1 = r0 * draw(g, 0.65, 0.8, variation)
        return cls((r0, r1, r1 * draw(g, 0.6, 0.8, variation)), draw(g, 0.1, 0.3, variation))

    def _centres(self) -> list[float]:
        z, out = self.radii[0], [self.radii[0]]
        for below, r in zip(self.radii[:-1], self.radii[1:]):
            z = z + below + r - 2 * self.overlap * r
            out.append(z)
        return out

    def _nose(self) -> tuple[float, float]:
        return 0.25 * self.radii[2], 0.7 * self.radii[2]  # (radius, length)

    def sdf(self, p: Tensor) -> Tensor:
        centres = self._centres()
        p = _shift(p, -0.5 * (centres[-1] + self.radii[-1]))
        d = torch.stack([sdf.sphere(_shift(p, c), r) for c, r in zip(centres, self.radii)]).amin(0)
        nose_r, nose_len = self._nose()
        # The nose is a cone whose axis is +X: rotate world (x, y, z) into cone axes (y, z, x).
        q = _shift(p, centres[-1], self.radii[-1] - 0.2 * nose_len + 0.5 * nose_len)[:, [1, 2, 0]]
        return torch.minimum(d, sdf.cone(q, nose_r, nose_len))

    def half_extents(self) -> tuple[float, float, float]:
        nose_r, nose_len = self._nose()
        front = self.radii[-1] + 0.8 * nose_len
        hx = max(self.radii[0], front)
        return (hx, self.radii[0], 0.5 * (self._centres()[-1] + self.radii[-1]))

    def mesh(self, resolution: int = 96) -> trimesh.Trimesh:
        return sdf_mesh(self.sdf, self.half_extents(), resolution)


COMPOSITIONS: tuple[type, ...] = (Mushroom, Table, Snowman)
"""Composite families, in a fixed order after :data:`lift3d.data.shapes.PRIMITIVES`."""
