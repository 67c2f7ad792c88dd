"""The orbit camera of the viewer page: azimuth/elevation/distance around a target, lift3d's +Z-up world."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras
from lift3d.types import LiftError

MAX_SIDE = 512
"""Largest frame side the server renders (the page asks for less while dragging)."""


@dataclass(frozen=True)
class Orbit:
    """One view: angles in degrees, distance in world units, image side in pixels."""

    azimuth: float = 30.0
    elevation: float = 20.0
    distance: float = 2.75
    fov_y: float = 40.0
    size: int = 256

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> Orbit:
        """Parse ``az``, ``el``, ``d``, ``fov`` and ``size`` from a URL query (missing keys keep defaults)."""
        names = {"az": "azimuth", "el": "elevation", "d": "distance", "fov": "fov_y"}
        values: dict = {}
        try:
            for key, name in names.items():
                if key in query:
                    values[name] = float(query[key][0])
            if "size" in query:
                values["size"] = int(query["size"][0])
        except ValueError:
            raise LiftError("bad orbit parameters: az, el, d and fov must be numbers, size an integer") from None
        if not all(math.isfinite(v) for v in values.values()):
            raise LiftError("bad orbit parameters: not finite")
        orbit = cls(**values)
        if not (8 <= orbit.size <= MAX_SIDE and orbit.distance > 0 and 1.0 <= orbit.fov_y <= 150.0):
            raise LiftError(f"bad orbit: size must be 8..{MAX_SIDE}, distance > 0, fov 1..150 degrees")
        return orbit

    def cameras(self, target: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Cameras:
        """A batch of one camera (elevation clamped short of the poles, where look-at flips)."""
        elevation = max(-89.0, min(89.0, self.elevation))
        return Cameras.from_spherical(torch.tensor([elevation]), torch.tensor([self.azimuth]),
                                      torch.tensor([self.distance]), self.fov_y, self.size,
                                      target=torch.tensor(target, dtype=torch.float32))


def framing_distance(radius: float, fov_y: float = 40.0, margin: float = 1.15) -> float:
    """Camera distance at which a sphere of ``radius`` fills the vertical field of view (times ``margin``)."""
    return margin * radius / math.sin(math.radians(fov_y) / 2)
