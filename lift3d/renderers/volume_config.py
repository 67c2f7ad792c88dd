"""The volume renderer's settings, its batch of rays, and what the two marchers (torch and nerfacc's) need of the
renderer that calls them (:class:`MarchHost`), so the marchers do not import the renderer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from lift3d.scenes.shading import NormalMethod
from lift3d.types import Backend


@dataclass(frozen=True)
class VolumeRendererConfig:
    """Volume renderer settings."""

    num_samples: int = 64
    """Stratified samples per ray across the box (the CUDA marcher uses step = diagonal / num_samples)."""
    num_importance: int = 0
    """Extra samples per ray drawn by inverse CDF from the coarse weights (torch backend)."""
    near: float = 0.0
    """Near plane distance; rays of cameras inside the box start here."""
    chunk_rays: int = 8192
    """Rays rendered per chunk (bounds memory)."""
    occupancy: bool = False
    """Skip samples in empty occupancy-grid cells (call ``update_occupancy`` to build the grid)."""
    occupancy_resolution: int = 64
    """Occupancy cells per side."""
    occupancy_threshold: float = 0.01
    """Occupancy (density * step) below which a cell is empty."""
    normals: NormalMethod = "auto"
    """How normals are computed when shading or ``compute_normals`` needs them (``auto``: a field's stored
    gradient, e.g. the dense grid's, else autograd)."""
    normal_eps: float = 1e-3
    """Finite-difference step for ``normals='finite_difference'``."""
    compute_normals: bool = False
    """Always output normals (they are computed anyway for lambertian/textureless shading)."""
    backend: Backend = "auto"
    """``auto`` uses nerfacc's CUDA marcher for CUDA tensors when occupancy is on, else the torch path
    (which also runs on CUDA tensors); ``cuda`` requires occupancy; ``torch`` never uses nerfacc's kernels."""

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.num_importance < 0 or self.chunk_rays < 1:
            raise ValueError("need num_samples >= 1, num_importance >= 0 and chunk_rays >= 1")


class Rays:
    """A flat batch of rays ``[N, 3]`` with optional per-ray light positions ``[N, 3]`` and ambient ``[N]``."""

    def __init__(self, origins: torch.Tensor, directions: torch.Tensor, light_pos: torch.Tensor | None,
                 ambient: torch.Tensor | None) -> None:
        self.origins, self.directions, self.light_pos, self.ambient = origins, directions, light_pos, ambient

    def split(self, n: int) -> Iterator[Rays]:
        """Chunks of at most ``n`` rays."""
        parts = [t.split(n) if t is not None else None for t in (self.origins, self.directions, self.light_pos,
                                                                 self.ambient)]
        for i in range(len(parts[0])):
            yield Rays(*(p[i] if p is not None else None for p in parts))


class MarchHost(Protocol):
    """The renderer as the marchers see it: its settings and its step size for a scene."""

    config: VolumeRendererConfig

    def step_size(self, scene: Any) -> float: ...
