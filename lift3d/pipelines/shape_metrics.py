"""Shape metrics against ground truth: the evaluation cameras, silhouette IoU and Chamfer distance (shared by
``lift3d eval`` and the diversity measure)."""

from __future__ import annotations

import numpy as np
import torch

from lift3d.cameras import Cameras

EVAL_ELEVATIONS = (10.0, 40.0)
EVAL_AZIMUTHS = 8


def eval_cameras(resolution: int = 64, distance: float = 2.75, fov: float = 40.0) -> Cameras:
    """The 16 evaluation cameras."""
    el = torch.tensor(EVAL_ELEVATIONS).repeat_interleave(EVAL_AZIMUTHS)
    az = (torch.arange(EVAL_AZIMUTHS) * (360.0 / EVAL_AZIMUTHS) + 22.5).repeat(len(EVAL_ELEVATIONS))
    return Cameras.from_spherical(el, az, torch.full_like(el, distance), fov, resolution)


def silhouette_iou(a: torch.Tensor, b: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean over views of IoU between ``alpha > threshold`` masks ``[B, H, W, 1]``."""
    ma, mb = a > threshold, b > threshold
    inter = (ma & mb).flatten(1).sum(1).float()
    union = (ma | mb).flatten(1).sum(1).float().clamp_min(1)
    return float((inter / union).mean())


def chamfer(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between two point sets ``[N, 3]``, ``[M, 3]``."""
    a, b = torch.as_tensor(points_a, dtype=torch.float32), torch.as_tensor(points_b, dtype=torch.float32)
    d = torch.cdist(a, b)
    return float(0.5 * (d.min(1).values.mean() + d.min(0).values.mean()))
