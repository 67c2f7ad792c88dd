"""The quantizers of PlayCanvas's SOG format (shared by its encoder and decoder): texture sizes, Morton order,
1D k-means codebooks and k-means palettes of SH coefficients."""

from __future__ import annotations

import math

import numpy as np
import torch

from lift3d.types import LiftError

SQRT2 = math.sqrt(2.0)
SH_COEFFS = [0, 3, 8, 15]


def texture_size(n: int) -> tuple[int, int]:
    """splat-transform's ``(W, H)`` for ``n`` splats (multiples of 4)."""
    w = max(4, math.ceil(math.sqrt(n) / 4) * 4)
    h = max(4, math.ceil(n / w / 4) * 4)
    if max(w, h) > 16383:
        raise LiftError(f"{n} splats need a {w}x{h} SOG image; WebP allows 16383 at most.")
    return w, h


def morton_order(points: np.ndarray) -> np.ndarray:
    """Indices sorting ``[N, 3]`` points along a 30-bit Morton (Z-order) curve of their bounding box."""
    lo, hi = points.min(0), points.max(0)
    q = ((points - lo) / np.where(hi > lo, hi - lo, 1.0) * 1023).astype(np.uint64)
    code = np.zeros(len(points), np.uint64)
    for bit in range(10):
        for axis in range(3):
            code |= ((q[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + axis)
    return np.argsort(code, kind="stable")


def quantize_1d(values: np.ndarray, k: int = 256, iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``(codebook [k], labels)``: 1-D k-means from quantile seeds; exact for <= ``k`` distinct values."""
    flat = values.reshape(-1).astype(np.float64)
    unique = np.unique(flat)
    if len(unique) <= k:
        centres = unique
    else:
        centres = np.unique(np.quantile(flat, (np.arange(k) + 0.5) / k))
        for _ in range(iterations):
            labels = np.searchsorted((centres[1:] + centres[:-1]) / 2, flat)
            sums, counts = np.bincount(labels, flat, len(centres)), np.bincount(labels, minlength=len(centres))
            centres = np.unique(np.where(counts > 0, sums / np.maximum(counts, 1), centres))
    labels = np.searchsorted((centres[1:] + centres[:-1]) / 2, flat) if len(centres) > 1 else np.zeros(len(flat), int)
    codebook = np.concatenate([centres, np.full(k - len(centres), centres[-1])])
    return codebook.astype(np.float32), labels.reshape(values.shape).astype(np.uint8)


def kmeans(data: torch.Tensor, k: int, iterations: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(centroids [k, D], labels [N])`` of Lloyd's k-means (exact when ``k >= N``)."""
    n = data.shape[0]
    if k >= n:
        return data.clone(), torch.arange(n)
    centroids = data[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]].clone()
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(iterations):
        for start in range(0, n, 4096):
            labels[start:start + 4096] = torch.cdist(data[start:start + 4096], centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, labels, data)
        counts = torch.bincount(labels, minlength=k).to(data.dtype)[:, None]
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids, labels
