"""The quantizers of PlayCanvas's SOG format (shared by its encoder and decoder): texture sizes, Morton order,
1D codebooks and k-means palettes of SH coefficients."""

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


def _optimal_centroids(x: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Up to ``k`` ascending centroids of sorted finite ``x`` (not all equal): splat-transform 3.10's
    ``quantizeFinite``. ``min(1024, N)`` histogram bins placed by a blend of rank and value (more by rank the smaller
    the IQR is against the range), each weighted ``count ** alpha``; dynamic programming finds the ``k`` contiguous
    bin ranges of least weighted squared error, and each centroid is its range's weighted mean."""
    n, lo, span = len(x), x[0], x[-1] - x[0]
    h = min(1024, n)
    beta = max(0.5, min(0.999, 1 - (x[int(n * 0.75)] - x[int(n * 0.25)]) / span))
    position = beta * (np.arange(n) / n) + (1 - beta) * ((x - lo) / span)
    bins = np.minimum(h - 1, np.floor(h * position)).astype(np.int64)
    counts = np.bincount(bins, minlength=h).astype(np.float64)
    empty = lo + (np.arange(h) + 0.5) / h * span  # an empty bin's centre
    centres = np.where(counts > 0, np.bincount(bins, x, h) / np.maximum(counts, 1), empty)
    w = np.where(counts > 0, counts**alpha, 0.0)
    pw, pwx, pwxx = (np.concatenate([[0.0], np.cumsum(v)]) for v in (w, w * centres, w * centres * centres))
    s, j = np.triu_indices(h, 1)  # bins s+1..j as one range, s < j
    sw, swx = pw[j + 1] - pw[s + 1], pwx[j + 1] - pwx[s + 1]
    big = 1e30
    step = np.full((h, h), big)  # step[s, j]: cost of bins s+1..j
    step[s, j] = np.where(sw > 0, pwxx[j + 1] - pwxx[s + 1] - swx * swx / np.where(sw > 0, sw, 1), 0.0)
    first = np.where(pw[1:] > 0, pwxx[1:] - pwx[1:] ** 2 / np.where(pw[1:] > 0, pw[1:], 1), 0.0)  # bins 0..j
    k = min(k, int((counts > 0).sum()))
    cost, splits = first, []
    for m in range(2, k + 1):  # cost[j]: least cost of bins 0..j in m ranges; the first best split on ties
        last = h - (k - m)  # ends j >= last leave too few bins for the other ranges: never on the optimal path
        candidates = cost[m - 2:last - 1, None] + step[m - 2:last - 1, m - 1:last]
        best = np.argmin(candidates, 0)
        cost = np.full(h, big)
        cost[m - 1:last] = np.take_along_axis(candidates, best[None], 0)[0]
        splits.append(np.concatenate([np.zeros(m - 1, np.int64), best + m - 2]))
    out, j = np.empty(k), h - 1
    for m in range(k, 0, -1):
        s = int(splits[m - 2][j]) if m > 1 else -1
        weight = pw[j + 1] - pw[s + 1]
        out[m - 1] = (pwx[j + 1] - pwx[s + 1]) / weight if weight > 0 else (centres[s + 1] + centres[j]) / 2
        j = s
    return np.sort(out.astype(np.float32))


def quantize_1d(values: np.ndarray, k: int = 256, alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(codebook [k], labels)`` of all ``values`` pooled: exact for <= ``k`` distinct values, else
    splat-transform 3.10's ``quantize1dColumns`` (:func:`_optimal_centroids`; the same codebook for the same
    values). Its ``count ** 0.5`` bin weights keep centroids in the sparse tails (the largest splats), which Lloyd's
    k-means, minimising the plain squared error, leaves far from them. Labels: the nearest entry."""
    flat = values.reshape(-1).astype(np.float64)
    finite = np.sort(flat[np.isfinite(flat)])
    unique = np.unique(finite)
    if len(unique) <= k:
        centres = unique if len(unique) else np.zeros(1)
    else:
        centres = _optimal_centroids(finite, k, alpha).astype(np.float64)
    codebook = np.concatenate([centres, np.full(k - len(centres), centres[-1])]).astype(np.float32)
    middles = (codebook[1:].astype(np.float64) + codebook[:-1]) / 2
    labels = np.searchsorted(middles, np.nan_to_num(flat), side="right")
    return codebook, labels.reshape(values.shape).astype(np.uint8)


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
