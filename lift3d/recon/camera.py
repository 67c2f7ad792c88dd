"""The input-camera convention of lift3d's reconstruction model.

The input image is taken to be seen from one canonical camera: elevation :data:`INPUT_ELEVATION`,
azimuth 0 (looking from +X toward the origin), distance and field of view of the procedural world and
the bundled prior (:data:`lift3d.priors.bundled.TRAIN_DISTANCE`, :data:`TRAIN_FOV_DEG`). The model
predicts Gaussians in the world frame of that camera (+Z up, object centred at the origin, the visible
side facing +X), so any other view is ``Cameras.from_spherical(elevation, azimuth, ...)`` as usual.
"""

from __future__ import annotations

from lift3d.cameras import Cameras
from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG
from lift3d.sampling import reference_view

INPUT_ELEVATION = 20.0
"""Elevation of the canonical input camera in degrees."""
INPUT_AZIMUTH = 0.0
"""Azimuth of the canonical input camera in degrees (front, +X)."""
INPUT_DISTANCE = TRAIN_DISTANCE
INPUT_FOV_DEG = TRAIN_FOV_DEG


def input_camera(resolution: int) -> Cameras:
    """The canonical input camera at ``resolution x resolution`` pixels."""
    return reference_view(resolution, elevation_deg=INPUT_ELEVATION, azimuth_deg=INPUT_AZIMUTH,
                          distance=INPUT_DISTANCE, fov_y_deg=INPUT_FOV_DEG)
