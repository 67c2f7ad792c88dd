"""Camera samplers: random orbits with scheduled ranges, turntables, fixed reference views.

All angles are degrees in the convention of :mod:`lift3d.cameras` (azimuth 0 = front = +X).
Randomness comes only from the ``torch.Generator`` passed in, so runs repeat from their seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from lift3d.cameras import Cameras


class View(str, Enum):
    """View-dependent prompt labels (DreamFusion, arXiv 2209.14988, section 3)."""

    FRONT = "front"
    SIDE = "side"
    BACK = "back"
    OVERHEAD = "overhead"


def view_labels(
    elevation_deg: torch.Tensor,
    azimuth_deg: torch.Tensor,
    front_threshold: float = 45.0,
    back_threshold: float = 45.0,
    overhead_threshold: float = 60.0,
) -> list[View]:
    """Label each camera front/side/back/overhead (threestudio's default thresholds)."""
    az = (azimuth_deg + 180.0) % 360.0 - 180.0  # (-180, 180], 0 = front
    labels = []
    for e, a in zip(elevation_deg.tolist(), az.tolist()):
        if e > overhead_threshold:
            labels.append(View.OVERHEAD)
        elif abs(a) < front_threshold:
            labels.append(View.FRONT)
        elif abs(a) > 180.0 - back_threshold:
            labels.append(View.BACK)
        else:
            labels.append(View.SIDE)
    return labels


@dataclass(frozen=True)
class Range:
    """A closed interval that can move linearly from ``start`` to ``end`` over ``[0, ramp_steps]``.

    ``start``/``end`` are ``(low, high)`` pairs; with ``end=None`` the interval is fixed.
    """

    start: tuple[float, float]
    end: tuple[float, float] | None = None
    ramp_steps: int = 0

    def at(self, step: int) -> tuple[float, float]:
        if self.end is None or self.ramp_steps <= 0:
            return self.start
        f = min(max(step / self.ramp_steps, 0.0), 1.0)
        return (
            self.start[0] + f * (self.end[0] - self.start[0]),
            self.start[1] + f * (self.end[1] - self.start[1]),
        )


def _uniform(lo_hi: tuple[float, float], n: int, generator: torch.Generator | None) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=generator)


@dataclass(frozen=True)
class OrbitSampler:
    """Random cameras on a sphere around the origin, looking at it.

    Elevation is sampled uniformly on the sphere's area (as DreamFusion) when
    ``uniform_sphere`` is set, otherwise uniformly in degrees.
    """

    elevation: Range = Range((-10.0, 60.0))
    """Elevation range in degrees (from the XY plane)."""
    azimuth: Range = Range((-180.0, 180.0))
    """Azimuth range in degrees (0 = front, +X)."""
    distance: Range = Range((2.5, 3.0))
    """Camera distance range."""
    fov_y: Range = Range((35.0, 45.0))
    """Vertical field of view range in degrees."""
    uniform_sphere: bool = False
    """Sample elevation uniformly over sphere area instead of uniformly in angle."""
    stratified_azimuth: bool = True
    """Spread a batch's azimuths evenly (one random offset), so each batch sees all sides."""

    def sample(self, n: int, width: int, height: int | None = None, step: int = 0,
               generator: torch.Generator | None = None, group: int = 1) -> Cameras:
        """``n`` cameras for training ``step``; ranges follow their schedules.

        ``group > 1``: consecutive groups of ``group`` cameras are the views of one multi-view sample, as MVDream
        (arXiv 2308.16512) was trained: one elevation, distance and field of view per group, azimuths
        ``start + k * 360 / group`` with a random start per group. ``n`` must be a multiple of ``group``.
        """
        if group > 1:
            return self._sample_groups(n, width, height, step, generator, group)
        elevation = self._elevation(n, step, generator)
        az_lo, az_hi = self.azimuth.at(step)
        if self.stratified_azimuth and n > 1:
            offset = torch.rand(1, generator=generator)
            azimuth = az_lo + (az_hi - az_lo) * ((torch.arange(n) + offset) / n)
        else:
            azimuth = _uniform((az_lo, az_hi), n, generator)
        distance = _uniform(self.distance.at(step), n, generator)
        fov = _uniform(self.fov_y.at(step), n, generator)
        return Cameras.from_spherical(elevation, azimuth, distance, fov, width, height)

    def _elevation(self, n: int, step: int, generator: torch.Generator | None) -> torch.Tensor:
        el_lo, el_hi = self.elevation.at(step)
        if self.uniform_sphere:
            s_lo, s_hi = torch.sin(torch.deg2rad(torch.tensor([el_lo, el_hi]))).tolist()
            return torch.rad2deg(torch.asin(_uniform((s_lo, s_hi), n, generator)))
        return _uniform((el_lo, el_hi), n, generator)

    def _sample_groups(self, n: int, width: int, height: int | None, step: int, generator: torch.Generator | None,
                       group: int) -> Cameras:
        if n % group:
            raise ValueError(f"{n} cameras are not a whole number of {group}-view groups")
        m = n // group
        elevation = self._elevation(m, step, generator).repeat_interleave(group)
        az_lo, az_hi = self.azimuth.at(step)
        start = _uniform((az_lo, az_hi), m, generator)
        azimuth = (start[:, None] + 360.0 * torch.arange(group) / group).reshape(-1)
        azimuth = torch.remainder(azimuth + 180.0, 360.0) - 180.0
        distance = _uniform(self.distance.at(step), m, generator).repeat_interleave(group)
        fov = _uniform(self.fov_y.at(step), m, generator).repeat_interleave(group)
        return Cameras.from_spherical(elevation, azimuth, distance, fov, width, height)


def turntable(
    n: int,
    width: int,
    height: int | None = None,
    elevation_deg: float = 20.0,
    distance: float = 2.75,
    fov_y_deg: float = 40.0,
    start_azimuth_deg: float = 0.0,
) -> Cameras:
    """``n`` cameras evenly spaced in azimuth (a full turn, end point excluded)."""
    azimuth = start_azimuth_deg + torch.arange(n, dtype=torch.float32) * (360.0 / n)
    return Cameras.from_spherical(torch.full((n,), elevation_deg), azimuth, torch.full((n,), distance),
                                  fov_y_deg, width, height)


def reference_view(
    width: int,
    height: int | None = None,
    elevation_deg: float = 0.0,
    azimuth_deg: float = 0.0,
    distance: float = 2.75,
    fov_y_deg: float = 40.0,
) -> Cameras:
    """The single camera an input image is assumed to be taken from (image-to-3D)."""
    return Cameras.from_spherical(torch.tensor([elevation_deg]), torch.tensor([azimuth_deg]),
                                  torch.tensor([distance]), fov_y_deg, width, height)
