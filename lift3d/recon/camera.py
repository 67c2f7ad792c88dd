"""The input-camera convention of lift3d's reconstruction model.

The input image is taken to be seen from one canonical camera: elevation :data:`INPUT_ELEVATION`,
azimuth 0 (looking from +X toward the origin), distance and field of view of the procedural world and
the bundled prior (:data:`lift3d.priors.bundled.TRAIN_DISTANCE`, :data:`TRAIN_FOV_DEG`). The model
predicts Gaussians in the world frame of that camera (+Z up, object centred at the origin, the visible
side facing +X), so any other view is ``Cameras.from_spherical(elevation, azimuth, ...)`` as usual.

An input known to be taken from another elevation (``lift3d reconstruct --elevation``) is seen from
``input_camera(size, elevation)``; :func:`elevation_rotation` takes the canonical camera's world to that one.
"""

from __future__ import annotations

import math

import torch

from lift3d.cameras import Cameras
from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG
from lift3d.sampling import reference_view
from lift3d.types import LiftError

INPUT_ELEVATION = 20.0
"""Elevation of the canonical input camera in degrees."""
INPUT_AZIMUTH = 0.0
"""Azimuth of the canonical input camera in degrees (front, +X)."""
INPUT_DISTANCE = TRAIN_DISTANCE
INPUT_FOV_DEG = TRAIN_FOV_DEG
ELEVATION_RANGE = (-80.0, 80.0)
"""Accepted input-camera elevations in degrees (away from the poles, where "up" in the image is undefined)."""


def input_camera(resolution: int, elevation: float = INPUT_ELEVATION) -> Cameras:
    """The input camera at ``resolution x resolution`` pixels (canonical unless ``elevation`` is given)."""
    return reference_view(resolution, elevation_deg=elevation, azimuth_deg=INPUT_AZIMUTH,
                          distance=INPUT_DISTANCE, fov_y_deg=INPUT_FOV_DEG)


def check_elevation(elevation: float) -> float:
    """``elevation`` if it lies in :data:`ELEVATION_RANGE`; else one :class:`LiftError` line naming the range."""
    lo, hi = ELEVATION_RANGE
    if not (math.isfinite(elevation) and lo <= elevation <= hi):
        raise LiftError(f"--elevation must be within {lo:g}..{hi:g} degrees (the input camera's elevation), "
                        f"got {elevation:g}")
    return float(elevation)


def elevation_rotation(elevation: float) -> torch.Tensor:
    """``[3, 3]`` float64 rotation taking the canonical input camera to ``input_camera(., elevation)``.

    It turns by ``elevation - INPUT_ELEVATION`` about the horizontal axis through the origin perpendicular to
    the view direction, so it maps the camera's centre and its axes (``c2w``) onto the other camera's: a scene
    rotated by it looks from the camera at ``elevation`` exactly as the scene did from the canonical one.
    """
    a = math.radians(INPUT_AZIMUTH)
    axis = torch.tensor([math.sin(a), -math.cos(a), 0.0], dtype=torch.float64)  # raising the camera turns about it
    theta = math.radians(elevation - INPUT_ELEVATION)
    x, y, z = axis.tolist()
    k = torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], dtype=torch.float64)  # cross-product matrix
    return torch.eye(3, dtype=torch.float64) + math.sin(theta) * k + (1 - math.cos(theta)) * (k @ k)
