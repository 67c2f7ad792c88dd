"""Value types shared across scenes, renderers, priors and guidance.

Images are channels-last ``[B, H, W, C]`` float32 in [0, 1] everywhere outside priors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

Backend = Literal["auto", "cuda", "torch"]
"""Renderer backend: ``auto`` picks the CUDA library when tensors are on CUDA, else our torch path."""


def resolve_backend(backend: Backend, device: torch.device) -> Literal["cuda", "torch"]:
    """Resolve ``auto`` to a concrete backend for tensors living on ``device``.

    Raises:
        ValueError: ``cuda`` was requested for tensors that are not on a CUDA device.
    """
    if backend == "auto":
        return "cuda" if device.type == "cuda" else "torch"
    if backend == "cuda" and device.type != "cuda":
        raise ValueError(f"backend='cuda' needs tensors on a CUDA device, got {device}; use backend='torch'.")
    if backend not in ("cuda", "torch"):
        raise ValueError(f"unknown backend {backend!r}; choose 'auto', 'cuda' or 'torch'.")
    return backend


@dataclass
class RenderOutput:
    """What every renderer returns for a batch of B cameras.

    Attributes:
        rgb: ``[B, H, W, 3]`` colour composited over the background.
        alpha: ``[B, H, W, 1]`` accumulated opacity.
        depth: ``[B, H, W, 1]`` expected depth along the camera z axis (0 where nothing is hit),
            or None when the renderer does not compute it.
        normal: ``[B, H, W, 3]`` world-space normals (alpha-weighted, not normalised), or None.
        aux: renderer-specific extras (e.g. ``weights``, ``radii``, ``face_ids``).
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor | None = None
    normal: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)


class LiftError(Exception):
    """An error caused by user input; the CLI prints its message as one line and exits non-zero."""
