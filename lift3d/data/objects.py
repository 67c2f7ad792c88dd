"""Procedural objects: a shape family instance, a uniform scale, a palette colour and a caption."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from lift3d.data.captions import caption_for
from lift3d.data.compositions import COMPOSITIONS
from lift3d.data.palette import colour as lookup_colour
from lift3d.data.shapes import PRIMITIVES, Shape, draw

FAMILIES: dict[str, type] = {cls.name: cls for cls in PRIMITIVES + COMPOSITIONS}
"""Family name (as used in prompts and labels) -> shape class, in label order."""


@dataclass(frozen=True)
class ProceduralObject:
    """One object of the procedural world, bounding box centred on the origin, +Z up, front +X.

    Attributes:
        shape: the family instance in its natural units.
        scale: uniform scale applied to ``shape`` (world = scale * natural).
        colour: canonical palette colour name.
        rgb: albedo.
        caption: a text description ("a crimson box").
        seed: the seed it was drawn from.
    """

    shape: Shape
    scale: float
    colour: str
    rgb: tuple[float, float, float]
    caption: str
    seed: int = 0

    @property
    def family(self) -> str:
        return self.shape.name

    def sdf(self, points: Tensor) -> Tensor:
        """``[N, 3] -> [N]`` signed distance in world units (negative inside)."""
        if points.ndim != 2 or points.shape[-1] != 3:
            raise ValueError(f"points must be [N, 3], got {tuple(points.shape)}")
        return self.scale * self.shape.sdf(points / self.scale)

    def albedo(self, points: Tensor) -> Tensor:
        """``[N, 3] -> [N, 3]`` albedo at ``points`` (uniform over the object)."""
        return torch.tensor(self.rgb, dtype=points.dtype, device=points.device).expand(points.shape[0], 3)

    def half_extents(self) -> tuple[float, float, float]:
        """Half sizes of the world-space bounding box (centred on the origin)."""
        return tuple(self.scale * h for h in self.shape.half_extents())

    def extent(self) -> float:
        """Largest side of the world-space bounding box (the ``extent`` of :func:`procedural_object`)."""
        return 2 * max(self.half_extents())

    def bounding_radius(self) -> float:
        """Radius of a sphere around the origin that contains the object."""
        return float(np.linalg.norm(self.half_extents()))

    def mesh(self, resolution: int = 64) -> trimesh.Trimesh:
        """Watertight world-space mesh with per-vertex colours (uint8 RGBA)."""
        m = self.shape.mesh(resolution).copy()
        m.apply_scale(self.scale)
        rgba = np.array([*[round(255 * c) for c in self.rgb], 255], dtype=np.uint8)
        m.visual.vertex_colors = np.tile(rgba, (len(m.vertices), 1))
        return m


def _generator(family: str, seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(f"{family}:{seed}".encode()))


def procedural_object(family: str, colour: str, seed: int = 0, extent: float | None = None,
                      variation: float = 1.0, caption: str | None = None) -> ProceduralObject:
    """Draw one object of ``family`` in ``colour``; deterministic in ``(family, seed)``.

    Args:
        family: one of :data:`FAMILIES` (``"cube"``, ``"torus"``, ``"mushroom"``, ...).
        colour: palette colour name or synonym (``"red"``, ``"crimson"``, ...).
        seed: selects proportions, size and caption wording.
        extent: largest side of the bounding box; default drawn from [0.85, 1.15] (1.0 at ``variation=0``).
        variation: 0 gives the family's canonical proportions, 1 its full ranges.
        caption: override the generated caption.

    Raises:
        ValueError: unknown family or colour, or a non-positive extent.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {list(FAMILIES)}.")
    c = lookup_colour(colour)
    g = _generator(family, seed)
    shape = FAMILIES[family].random(g, variation)
    size = draw(g, 0.85, 1.15, variation) if extent is None else extent
    if size <= 0:
        raise ValueError(f"extent must be positive, got {size}")
    scale = size / (2 * max(shape.half_extents()))
    text = caption if caption is not None else caption_for(family, c.name, seed)
    return ProceduralObject(shape, scale, c.name, c.rgb, text, seed)
