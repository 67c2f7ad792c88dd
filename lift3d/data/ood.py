"""An out-of-distribution evaluation set for models trained on the random world.

LRM-Zero (arXiv 2406.09371) trains on Zeroverse's random compositions and evaluates on real objects.
lift3d's stand-in for "real objects" is a fixed list of hand-built, structured objects made from
composition rules :func:`lift3d.data.zeroverse.random_composition` never uses:

- primitive kinds it never draws (:data:`lift3d.data.zeroverse.HELDOUT_KINDS`: capsules, ellipsoids,
  octahedra), which appear in most of these objects;
- deliberate arrangements: mirror symmetry, parts touching at designed joints, axis-aligned placement,
  parts sized relative to each other (a handle on a mug, legs under a seat, a head on a body).

Nothing here is used for any recipe choice of the generator (no shared random draws, sizes or kinds
lists); :func:`ood_objects` is deterministic and takes no seed. Geometry is in natural units and scaled
like every object of the world (longest bounding-box side = ``extent``, centred, +Z up, front +X).
"""

from __future__ import annotations

import math

from lift3d.data.parts import Composition, Part
from lift3d.data.textures import Pattern
from lift3d.data.zeroverse import RandomObject, make_object


def rotation(axis: str, degrees: float) -> tuple[float, ...]:
    """Row-major 3x3 rotation by ``degrees`` about world axis ``"x"``, ``"y"`` or ``"z"``."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {"x": (1, 0, 0, 0, c, -s, 0, s, c), "y": (c, 0, s, 0, 1, 0, -s, 0, c),
            "z": (c, -s, 0, s, c, 0, 0, 0, 1)}[axis]


def _flat(rgb: tuple[float, float, float]) -> Pattern:
    return Pattern("flat", rgb)


def _mug() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    body = Part("tube", (0.3, 0.36, 0.4))
    bottom = Part("cylinder", (0.33, 0.03), translation=(0.0, 0.0, -0.37))
    handle = Part("torus", (0.15, 0.045), rotation("x", 90), (0.5, 0.0, 0.02), "smooth", 0.03)
    glaze = Pattern("stripes", (0.9, 0.88, 0.8), (0.2, 0.35, 0.7), 6.0, rotation("y", 90))
    return (body, bottom, handle), (glaze, glaze, _flat((0.9, 0.88, 0.8)))


def _chair() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    wood, cushion = (0.55, 0.33, 0.15), (0.75, 0.15, 0.12)
    seat = Part("box", (0.3, 0.3, 0.04, 0.01), translation=(0.0, 0.0, 0.0))
    legs = tuple(Part("box", (0.03, 0.03, 0.22, 0.0), translation=(sx * 0.26, sy * 0.26, -0.26))
                 for sx in (-1, 1) for sy in (-1, 1))
    back = Part("frame", (0.03, 0.3, 0.25, 0.03), translation=(-0.27, 0.0, 0.29))
    slat = Part("capsule", (0.025, 0.25), rotation("x", 90), (-0.27, 0.0, 0.3))
    return (seat, *legs, back, slat), (_flat(cushion), *(_flat(wood),) * 6)


def _figure() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    skin, shirt, trousers = (0.95, 0.75, 0.6), (0.2, 0.6, 0.3), (0.2, 0.25, 0.55)
    body = Part("capsule", (0.16, 0.14), translation=(0.0, 0.0, 0.05))
    head = Part("sphere", (0.14,), translation=(0.0, 0.0, 0.47), op="smooth", blend=0.04)
    arms = tuple(Part("capsule", (0.05, 0.16), rotation("x", side * 35), (0.0, side * 0.25, 0.08), "smooth", 0.03)
                 for side in (-1, 1))
    legs = tuple(Part("capsule", (0.06, 0.14), translation=(0.0, side * 0.08, -0.35), op="smooth", blend=0.03)
                 for side in (-1, 1))
    eyes = tuple(Part("ellipsoid", (0.03, 0.02, 0.03), translation=(0.12, side * 0.05, 0.5)) for side in (-1, 1))
    return (body, head, *arms, *legs, *eyes), (_flat(shirt), _flat(skin), _flat(skin), _flat(skin),
                                                _flat(trousers), _flat(trousers), _flat((0.1, 0.1, 0.1)),
                                                _flat((0.1, 0.1, 0.1)))


def _head() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    """A Suzanne-like head: an ellipsoid skull, big flat ears, a muzzle, carved eye sockets with eyeballs."""
    fur, face = (0.55, 0.4, 0.3), (0.85, 0.7, 0.55)
    skull = Part("ellipsoid", (0.36, 0.4, 0.38))
    ears = tuple(Part("ellipsoid", (0.08, 0.2, 0.16), rotation("z", side * 20), (-0.02, side * 0.45, 0.06),
                      "smooth", 0.05) for side in (-1, 1))
    muzzle = Part("ellipsoid", (0.2, 0.3, 0.16), translation=(0.24, 0.0, -0.1), op="smooth", blend=0.06)
    sockets = tuple(Part("sphere", (0.1,), translation=(0.33, side * 0.14, 0.1), op="subtract")
                    for side in (-1, 1))
    eyes = tuple(Part("sphere", (0.075,), translation=(0.3, side * 0.14, 0.1)) for side in (-1, 1))
    return (skull, *ears, muzzle, *sockets, *eyes), (_flat(fur), _flat(fur), _flat(fur), _flat(face),
                                                      _flat(face), _flat(face), _flat((0.95, 0.95, 0.95)),
                                                      _flat((0.95, 0.95, 0.95)))


def _jewel() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    band = Part("torus", (0.35, 0.05), rotation("x", 90))
    setting = Part("cylinder", (0.08, 0.05), translation=(0.0, 0.0, 0.42))
    gem = Part("octahedron", (0.16,), rotation("z", 45), (0.0, 0.0, 0.58))
    gold = Pattern("noise", (0.85, 0.65, 0.15), (0.95, 0.8, 0.35), 8.0, noise_seed=7)
    return (band, setting, gem), (gold, gold, _flat((0.3, 0.8, 0.9)))


def _rocket() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    hull = Part("capsule", (0.14, 0.3), translation=(0.0, 0.0, -0.05))
    nose = Part("cone", (0.14, 0.12), translation=(0.0, 0.0, 0.37), op="smooth", blend=0.03)
    fins = tuple(Part("prism", (0.12, 0.015, 0.12), rotation("z", a), (0.2 * math.cos(math.radians(a)),
                      0.2 * math.sin(math.radians(a)), -0.35)) for a in (0, 120, 240))
    paint = Pattern("checker", (0.95, 0.95, 0.95), (0.85, 0.1, 0.1), 5.0)
    return (hull, nose, *fins), (paint, _flat((0.85, 0.1, 0.1)), *(_flat((0.2, 0.2, 0.25)),) * 3)


def _lamp() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    base = Part("ellipsoid", (0.22, 0.22, 0.06), translation=(0.0, 0.0, -0.42))
    stem = Part("cylinder", (0.02, 0.3), translation=(0.0, 0.0, -0.1))
    shade = Part("tube", (0.17, 0.2, 0.14), translation=(0.0, 0.0, 0.3))
    bulb = Part("sphere", (0.08,), translation=(0.0, 0.0, 0.22))
    metal, cloth = (0.3, 0.3, 0.32), Pattern("stripes", (0.95, 0.85, 0.5), (0.8, 0.5, 0.2), 8.0)
    return (base, stem, shade, bulb), (_flat(metal), _flat(metal), cloth, _flat((1.0, 0.95, 0.7)))


def _egg_cup() -> tuple[tuple[Part, ...], tuple[Pattern, ...]]:
    foot = Part("cylinder", (0.2, 0.03), translation=(0.0, 0.0, -0.4))
    stem = Part("cylinder", (0.06, 0.1), translation=(0.0, 0.0, -0.28), op="smooth", blend=0.04)
    cup = Part("tube", (0.15, 0.19, 0.12), translation=(0.0, 0.0, -0.08), op="smooth", blend=0.03)
    egg = Part("ellipsoid", (0.16, 0.16, 0.22), translation=(0.0, 0.0, 0.08))
    china = Pattern("checker", (0.2, 0.4, 0.8), (0.95, 0.95, 0.95), 10.0, rotation("z", 30))
    return (foot, stem, cup, egg), (china, china, china, _flat((0.95, 0.9, 0.8)))


OOD_BUILDERS = {"mug": (_mug, "a mug"), "chair": (_chair, "a chair"), "figure": (_figure, "a toy figure"),
                "head": (_head, "a monkey head"), "jewel": (_jewel, "a jewelled band"),
                "rocket": (_rocket, "a toy rocket"), "lamp": (_lamp, "a reading lamp"),
                "egg_cup": (_egg_cup, "an egg cup")}
"""OOD object name -> (builder returning parts and patterns, caption), in :func:`ood_objects` order."""


def ood_objects(extent: float = 1.0) -> list[RandomObject]:
    """The fixed out-of-distribution evaluation objects, one per :data:`OOD_BUILDERS` entry, in order.

    Each is a :class:`~lift3d.data.zeroverse.RandomObject` whose ``family`` is its name (``"mug"``, ...),
    with longest bounding-box side ``extent``; ``seed`` is its index.
    """
    out = []
    for i, (name, (build, caption)) in enumerate(OOD_BUILDERS.items()):
        parts, patterns = build()
        out.append(make_object(Composition(parts, name), patterns, caption, i, extent))
    return out
