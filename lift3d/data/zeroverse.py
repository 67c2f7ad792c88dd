"""A Zeroverse-style random world: seeded compositions of textured primitives, without semantics.

LRM-Zero (Xie et al., "LRM-Zero: Training Large Reconstruction Models with Synthesized Data",
arXiv 2406.09371) trains a reconstruction model on Zeroverse: 1-9 random primitives with random size,
rotation and translation, random textures, and three augmentations - height-field displacement,
boolean difference and thin wire structures - and finds it generalises to real objects. This module is
that recipe on lift3d's SDF primitives: :func:`random_composition` returns a :class:`RandomObject`, a
:class:`~lift3d.data.objects.ProceduralObject`, so :func:`~lift3d.data.render_object`, its ground truth
(alpha, depth, normals, ``mesh()``) and the dataset code work unchanged.

Every part is an exact SDF under a rigid motion and every combination keeps the SDF 1-Lipschitz (see
:mod:`lift3d.data.parts`), so the sphere tracer stays correct. Capsules, ellipsoids and octahedra
(:data:`HELDOUT_KINDS`) are never drawn here; :mod:`lift3d.data.ood` builds its evaluation objects from them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import torch
import trimesh
from torch import Tensor

from lift3d.data.objects import ProceduralObject
from lift3d.data.palette import nearest_colour
from lift3d.data.parts import Composition, Part
from lift3d.data.shapes import draw
from lift3d.data.textures import Pattern, random_pattern, random_rotation

TRAIN_KINDS: tuple[str, ...] = ("box", "sphere", "cylinder", "cone", "torus", "tube", "pyramid", "prism")
"""Solid kinds :func:`random_composition` draws (thin structures add thin cylinders, tori and frames)."""
HELDOUT_KINDS: tuple[str, ...] = ("capsule", "ellipsoid", "octahedron")
"""Kinds never used by :func:`random_composition` (reserved for :mod:`lift3d.data.ood`)."""


@dataclass(frozen=True)
class RandomObject(ProceduralObject):
    """A :class:`ProceduralObject` whose albedo may vary: ``patterns[i]`` textures the surface nearest part ``i``.

    ``patterns=()`` falls back to the uniform ``rgb`` (so ``replace(obj, patterns=(), rgb=white)`` renders
    white-albedo shading as the families do).
    """

    patterns: tuple[Pattern, ...] = ()

    def albedo(self, points: Tensor) -> Tensor:
        if not self.patterns:
            return super().albedo(points)
        q = points / self.scale
        owner = self.shape.part_distances(q).abs().argmin(-1)
        out = torch.empty_like(points)
        for i, pattern in enumerate(self.patterns):
            mask = owner == i
            if mask.any():
                out[mask] = pattern.albedo(q[mask])
        return out

    def mesh(self, resolution: int = 96) -> trimesh.Trimesh:
        """Watertight marching-cubes mesh in world units, vertex colours = albedo at the vertices."""
        m = self.shape.mesh(resolution).copy()
        m.apply_scale(self.scale)
        with torch.no_grad():
            rgb = self.albedo(torch.as_tensor(m.vertices, dtype=torch.float32))
        rgba = torch.cat([(rgb * 255).round(), torch.full_like(rgb[:, :1], 255)], -1)
        m.visual.vertex_colors = rgba.to(torch.uint8).numpy()
        return m

    @property
    def textured(self) -> bool:
        """Whether the albedo varies over the surface."""
        return len(set(self.patterns)) > 1 or any(p.kind != "flat" for p in self.patterns)


def make_object(shape: Composition, patterns: tuple[Pattern, ...], caption: str, seed: int = 0,
                extent: float = 1.0) -> RandomObject:
    """Centre ``shape``, scale its longest bounding-box side to ``extent`` and wrap it as a :class:`RandomObject`."""
    if extent <= 0:
        raise ValueError(f"extent must be positive, got {extent}")
    shape = shape.centred()
    rgb = patterns[0].colour if patterns else (0.8, 0.8, 0.8)
    name = nearest_colour(torch.tensor(rgb))[0]
    return RandomObject(shape, extent / (2 * max(shape.half_extents())), name, rgb, caption, seed, patterns)


@dataclass(frozen=True)
class ZeroverseConfig:
    """Recipe of :func:`random_composition` (probabilities are per object unless stated)."""

    min_parts: int = 1
    max_parts: int = 9
    """Solid primitives per object, uniform in ``[min_parts, max_parts]`` (LRM-Zero: 1-9)."""
    size: tuple[float, float] = (0.15, 0.5)
    """Range of a solid's largest half size, in natural units (parts are centred in ``[-0.3, 0.3]^3``)."""
    p_smooth: float = 0.4
    """Per part after the first: smooth union (radius 0.03-0.12) instead of a hard union."""
    p_difference: float = 0.35
    """Subtract 1-2 primitives centred near the surface of a solid (boolean difference)."""
    p_thin: float = 0.35
    """Add 1-3 thin structures: rods (thin cylinders), rings (thin tori) or box wire frames."""
    p_displace: float = 0.35
    """Displace 1-2 solids by a sum of 1-3 sinusoids (a height field over their surfaces)."""
    p_texture: float = 0.75
    """Texture each part with its own random pattern (flat, stripes, checker or noise, random colours);
    otherwise the whole object gets one flat random colour."""


CAPTIONS: tuple[str, ...] = ("an abstract shape", "a random assembly of {n} primitive{s}",
                             "an abstract object made of {n} part{s}", "a random 3d composition")
"""Captions of random objects: no family or colour words (``parse_caption`` gives ``(None, None)``)."""


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _solid_params(g: torch.Generator, kind: str, s: float) -> tuple[float, ...]:
    u = lambda: s * _u(g, 0.35, 1.0)  # noqa: E731
    if kind == "box":
        a, b, c = u(), u(), u()
        return (a, b, c, min(a, b, c) * _u(g, 0.0, 0.4) * (_u(g) < 0.5))
    if kind == "sphere":
        return (s * _u(g, 0.6, 1.0),)
    if kind == "torus":
        r = s * _u(g, 0.5, 1.0)
        return (r, r * _u(g, 0.15, 0.5))
    if kind == "tube":
        ro = u()
        return (ro * _u(g, 0.5, 0.85), ro, u())
    n = {"cylinder": 2, "cone": 2, "pyramid": 2, "prism": 3}[kind]
    return tuple(u() for _ in range(n))


def _position(g: torch.Generator, spread: float = 0.3) -> tuple[float, float, float]:
    return tuple(_u(g, -spread, spread) for _ in range(3))


def _thin(g: torch.Generator) -> Part:
    w = _u(g, 0.012, 0.025)
    kind = ("cylinder", "torus", "frame")[int(torch.randint(3, (), generator=g))]
    params = {"cylinder": lambda: (w, _u(g, 0.2, 0.5)), "torus": lambda: (_u(g, 0.15, 0.4), w),
              "frame": lambda: (_u(g, 0.15, 0.4), _u(g, 0.15, 0.4), _u(g, 0.15, 0.4), w)}[kind]()
    return Part(kind, params, random_rotation(g), _position(g), thin=True)


def _cutter(g: torch.Generator, target: Part) -> Part:
    h = max(target.half_extents())
    kind = ("sphere", "box", "cylinder")[int(torch.randint(3, (), generator=g))]
    params = _solid_params(g, kind, h * _u(g, 0.3, 0.7))
    direction = torch.nn.functional.normalize(torch.randn(3, generator=g, dtype=torch.float64), dim=0)
    centre = [t + h * _u(g, 0.6, 1.0) * float(d) for t, d in zip(target.translation, direction)]
    return Part(kind, params, random_rotation(g), tuple(centre), op="subtract")


def _displaced(g: torch.Generator, part: Part) -> Part:
    n = int(torch.randint(1, 4, (), generator=g))
    waves = []
    for _ in range(n):
        k = torch.nn.functional.normalize(torch.randn(3, generator=g, dtype=torch.float64), dim=0) * _u(g, 10, 30)
        waves.append((*k.tolist(), _u(g, 0.0, 2 * math.pi)))
    mean_k = sum(math.hypot(*w[:3]) for w in waves) / n
    amplitude = min(_u(g, 0.01, 0.03), 0.6 / mean_k)  # Lipschitz bound <= 1.6: tracing stays fast
    return Part(part.kind, part.params, part.rotation, part.translation, part.op, part.blend, amplitude,
                tuple(waves))


def augmentations(shape: Composition) -> frozenset[str]:
    """Which of ``"smooth"``, ``"difference"``, ``"thin"``, ``"displacement"`` ``shape`` uses."""
    tags = {"smooth": any(p.op == "smooth" for p in shape.parts),
            "difference": any(p.op == "subtract" for p in shape.parts),
            "thin": any(p.thin for p in shape.parts), "displacement": any(p.waves for p in shape.parts)}
    return frozenset(k for k, v in tags.items() if v)


def random_composition(seed: int, extent: float | None = None,
                       config: ZeroverseConfig = ZeroverseConfig()) -> RandomObject:
    """A random Zeroverse-style object (LRM-Zero, arXiv 2406.09371), deterministic in ``(seed, config)``.

    Args:
        seed: selects everything: parts, placements, augmentations, textures, size and caption.
        extent: longest side of the bounding box; default drawn from [0.85, 1.15] like the families.
        config: the recipe (numbers of parts, augmentation probabilities).

    Returns:
        A :class:`RandomObject` (family ``"random"``) centred on the origin, +Z up.
    """
    if not 1 <= config.min_parts <= config.max_parts:
        raise ValueError(f"need 1 <= min_parts <= max_parts, got {config.min_parts}, {config.max_parts}")
    g = torch.Generator().manual_seed(zlib.crc32(f"random:{seed}".encode()))
    n = int(torch.randint(config.min_parts, config.max_parts + 1, (), generator=g))
    solids = []
    for i in range(n):
        kind = TRAIN_KINDS[int(torch.randint(len(TRAIN_KINDS), (), generator=g))]
        params = _solid_params(g, kind, _u(g, *config.size))
        smooth = i > 0 and _u(g) < config.p_smooth
        solids.append(Part(kind, params, random_rotation(g), _position(g), "smooth" if smooth else "union",
                           _u(g, 0.03, 0.12) if smooth else 0.0))
    if _u(g) < config.p_displace:
        for _ in range(int(torch.randint(1, 3, (), generator=g))):
            i = int(torch.randint(n, (), generator=g))
            solids[i] = _displaced(g, solids[i])
    cutters = [_cutter(g, solids[int(torch.randint(n, (), generator=g))])
               for _ in range(int(torch.randint(1, 3, (), generator=g)))] if _u(g) < config.p_difference else []
    thin = [_thin(g) for _ in range(int(torch.randint(1, 4, (), generator=g)))] if _u(g) < config.p_thin else []
    parts = tuple(solids + cutters + thin)
    if _u(g) < config.p_texture:
        patterns = tuple(random_pattern(g) for _ in parts)
    else:
        patterns = (Pattern("flat", random_pattern(g).colour),) * len(parts)
    size = draw(g, 0.85, 1.15, 1.0) if extent is None else extent
    caption = CAPTIONS[int(torch.randint(len(CAPTIONS), (), generator=g))].format(n=len(parts), s="s" * (len(parts) > 1))
    return make_object(Composition(parts), patterns, caption, seed, size)
