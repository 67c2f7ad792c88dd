"""Procedural textures of the random world: albedo as a function of position, per part.

LRM-Zero (Xie et al., "LRM-Zero: Training Large Reconstruction Models with Synthesized Data",
arXiv 2406.09371) textures each Zeroverse primitive independently with a random texture. Here a
:class:`Pattern` is one such texture, evaluated in the object's natural coordinates so it does not
depend on the object's scale: a flat colour, stripes, a 3D checkerboard or trilinear value noise, each
blending two colours in a randomly rotated frame. The families of :mod:`lift3d.data.shapes` keep their
uniform albedo; only :class:`lift3d.data.zeroverse.RandomObject` uses these.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

RGB = tuple[float, float, float]
PATTERNS: tuple[str, ...] = ("flat", "stripes", "checker", "noise")
"""Pattern kinds, in the order :func:`random_pattern` indexes them."""


def random_rotation(g: torch.Generator) -> tuple[float, ...]:
    """A uniformly random rotation (normalised Gaussian quaternion) as a row-major 3x3 tuple (local -> world)."""
    w, x, y, z = torch.nn.functional.normalize(torch.randn(4, generator=g, dtype=torch.float64), dim=0).tolist()
    return (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y))


def random_rgb(g: torch.Generator, lo: float = 0.05, hi: float = 0.95) -> RGB:
    """A colour with channels uniform in ``[lo, hi]``."""
    return tuple(float(v) for v in (lo + (hi - lo) * torch.rand(3, generator=g, dtype=torch.float64)))


@dataclass(frozen=True)
class Pattern:
    """A two-colour texture, deterministic in its fields.

    Attributes:
        kind: one of :data:`PATTERNS`; ``"flat"`` is ``colour`` everywhere.
        colour: the first (for ``"flat"`` the only) albedo.
        other: the second albedo.
        frequency: cycles per natural unit (stripes and checkers) or noise lattice cells per unit.
        frame: row-major 3x3 rotation of the pattern's axes (stripes run across the first axis).
        noise_seed: seed of the value-noise lattice.
    """

    kind: str = "flat"
    colour: RGB = (0.8, 0.8, 0.8)
    other: RGB = (0.2, 0.2, 0.2)
    frequency: float = 4.0
    frame: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PATTERNS:
            raise ValueError(f"unknown pattern {self.kind!r}; choose one of {PATTERNS}.")

    def weight(self, q: Tensor) -> Tensor:
        """``[N, 3] -> [N]`` blend weight of ``other`` in [0, 1] at natural-unit points ``q``."""
        if self.kind == "flat":
            return torch.zeros_like(q[:, 0])
        u = q @ torch.tensor(self.frame, dtype=q.dtype, device=q.device).reshape(3, 3) * self.frequency
        if self.kind == "stripes":
            return (torch.frac(u[:, 0] + 1e3) >= 0.5).to(q.dtype)
        if self.kind == "checker":
            return (torch.floor(u).sum(-1).remainder(2.0) > 0.5).to(q.dtype)
        # Value noise: random values on an integer lattice, trilinear with smoothstep (grid_sample, border).
        n = int(2 * self.frequency) + 3  # lattice covering natural coordinates in about [-1, 1]
        g = torch.Generator().manual_seed(self.noise_seed)
        lattice = torch.rand(1, 1, n, n, n, generator=g).to(q)
        cell = u.clamp(-(n - 1) / 2, (n - 1) / 2) + (n - 1) / 2
        base = torch.floor(cell).clamp(0, n - 2)
        f = cell - base
        f = f * f * (3 - 2 * f)
        grid = ((base + f) / (n - 1) * 2 - 1)[None, :, None, None, :]  # [1, N, 1, 1, 3] as (x, y, z)
        return torch.nn.functional.grid_sample(lattice, grid, align_corners=True, padding_mode="border").reshape(-1)

    def albedo(self, q: Tensor) -> Tensor:
        """``[N, 3] -> [N, 3]`` albedo at natural-unit points ``q``."""
        a = torch.tensor(self.colour, dtype=q.dtype, device=q.device)
        b = torch.tensor(self.other, dtype=q.dtype, device=q.device)
        return a + self.weight(q)[:, None] * (b - a)


def random_pattern(g: torch.Generator, kinds: tuple[str, ...] = PATTERNS) -> Pattern:
    """A random pattern: a kind from ``kinds``, two random colours, frequency, frame and noise seed."""
    kind = kinds[int(torch.randint(len(kinds), (), generator=g))]
    a, b = random_rgb(g), random_rgb(g)
    freq = 2.0 + 8.0 * float(torch.rand((), generator=g))
    return Pattern(kind, a, b, freq, random_rotation(g), int(torch.randint(2**31 - 1, (), generator=g)))
