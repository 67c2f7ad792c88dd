"""Occupancy grid for empty-space skipping (torch), modelled on nerfacc's ``OccGridEstimator``
("NerfAcc: Efficient Sampling Accelerates NeRFs", Li et al., arXiv 2305.04966).

nerfacc's ``OccGridEstimator.sampling`` needs CUDA, so the grid state and its update are ours: each
cell keeps an EMA-decayed maximum of ``density * step_size`` at jittered points inside it, and the
binary grid marks cells above a threshold. Its layout (``[Rx, Ry, Rz]``, indexed x, y, z) matches
nerfacc's ``binaries`` so the CUDA path can hand it to nerfacc's ray marcher unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class OccupancyGrid(nn.Module):
    """A binary occupancy grid over ``aabb`` updated from a field's density.

    Args:
        aabb: ``[6]`` box covered by the grid.
        resolution: cells per side.
        ema_decay: decay of the per-cell occupancy between updates.
        threshold: cells with occupancy (``density * step_size``) above ``min(threshold, mean)`` are
            occupied (nerfacc's rule).
        dilation: occupied cells are grown by this many cells, so trilinear footprints that spill
            into neighbouring cells are never skipped.
    """

    def __init__(self, aabb: torch.Tensor, resolution: int = 64, ema_decay: float = 0.95,
                 threshold: float = 0.01, dilation: int = 1) -> None:
        super().__init__()
        if resolution < 1:
            raise ValueError(f"occupancy resolution must be >= 1, got {resolution}")
        self.resolution = resolution
        self.ema_decay = ema_decay
        self.threshold = threshold
        self.dilation = dilation
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).reshape(6).clone())
        self.register_buffer("occs", torch.zeros(resolution, resolution, resolution))
        self.register_buffer("binaries", torch.ones(resolution, resolution, resolution, dtype=torch.bool))

    @torch.no_grad()
    def update(
        self,
        density_fn: Callable[[torch.Tensor], torch.Tensor],
        step_size: float,
        generator: torch.Generator | None = None,
        samples_per_cell: int = 1,
        chunk: int = 2**18,
    ) -> None:
        """Re-evaluate every cell: ``occ = max(ema_decay * occ, max_j density(x_j) * step_size)``.

        Args:
            density_fn: ``[N, 3]`` world points to density ``[N]``.
            step_size: the renderer's sample spacing (turns density into an opacity scale).
            generator: jitters the points inside cells; None uses cell centres.
            samples_per_cell: jittered points per cell (more is more conservative).
            chunk: points per ``density_fn`` call.
        """
        n = self.resolution
        dev = self.occs.device
        idx = torch.stack(torch.meshgrid(*(torch.arange(n, device=dev),) * 3, indexing="ij"), -1).reshape(-1, 3)
        lo, hi = self.aabb[:3], self.aabb[3:]
        occ = torch.zeros(n**3, device=dev)
        for _ in range(samples_per_cell):
            if generator is None:
                jitter = torch.full(idx.shape, 0.5, device=dev)
            else:
                jitter = torch.rand(idx.shape, generator=generator, device=dev)
            pts = lo + (idx + jitter) / n * (hi - lo)
            dens = torch.cat([density_fn(p).reshape(-1) for p in pts.split(chunk)])
            occ = torch.maximum(occ, torch.nan_to_num(dens.float(), nan=0.0, posinf=1e6) * step_size)
        self.occs.copy_(torch.maximum(self.occs * self.ema_decay, occ.view(n, n, n)))
        thre = min(self.threshold, self.occs.mean().item())
        binaries = self.occs > thre
        if self.dilation > 0:
            k = 2 * self.dilation + 1
            binaries = nn.functional.max_pool3d(binaries[None, None].float(), k, 1, self.dilation)[0, 0] > 0
        self.binaries.copy_(binaries)

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` world points to ``[...]`` bool: inside the box and in an occupied cell."""
        lo, hi = self.aabb[:3], self.aabb[3:]
        x = (points - lo) / (hi - lo)
        inside = ((x >= 0) & (x <= 1)).all(-1)
        cell = (x * self.resolution).long().clamp(0, self.resolution - 1)
        occupied = self.binaries[cell[..., 0], cell[..., 1], cell[..., 2]]
        return occupied & inside

    @property
    def occupied_fraction(self) -> float:
        return self.binaries.float().mean().item()
