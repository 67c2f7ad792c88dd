"""The texel encoding of PlayCanvas SOG version 2 (layout in :mod:`lift3d.export.sog`): splats <-> RGBA images.

Kept apart from the file handling so both directions are plain array code, checked against each other in
``tests/test_export_sog.py`` and against splat-transform 3.x in ``tests/test_export_dcc_formats.py``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lift3d.export.sog_quantize import SH_COEFFS, SQRT2, kmeans, morton_order, quantize_1d, texture_size
from lift3d.export.splats import SplatData

QUAT_SLOTS = [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
"""The three stored slots of ``(w, x, y, z)`` for each dropped (largest) slot."""


def palette_size(n: int) -> int:
    """splat-transform's SH palette size for ``n`` splats (``min(64, 2^floor(log2(n / 1024))) * 1024``); scenes of
    up to 1024 splats keep one entry per splat (an exact palette)."""
    if n <= 1024:
        return n
    return min(n, int(min(64.0, 2.0 ** math.floor(math.log2(n / 1024))) * 1024))


def _image(n: int, size: tuple[int, int], columns: list[np.ndarray], alpha: np.ndarray | int = 255) -> np.ndarray:
    w, h = size
    out = np.zeros((w * h, 4), np.uint8)
    for c, col in enumerate(columns):
        out[:n, c] = col
    out[:n, 3] = alpha
    return out.reshape(h, w, 4)


def sog_images(splats: SplatData, sh_iterations: int = 10) -> tuple[dict[str, np.ndarray], dict]:
    """``({webp name: [H, W, 4] uint8}, meta)`` of ``splats`` (file axes; Morton order)."""
    n = len(splats)
    means, quats, log_scales, logits, sh = (t.detach().cpu().double().numpy() for t in splats.fields())
    order = morton_order(means)
    means, quats, log_scales, logits, sh = (a[order] for a in (means, quats, log_scales, logits, sh))
    size = texture_size(n)
    mapped = np.sign(means) * np.log1p(np.abs(means))
    mins, maxs = mapped.min(0), mapped.max(0)
    v = np.round(65535 * (mapped - mins) / np.where(maxs > mins, maxs - mins, 1.0)).astype(np.int64)
    q = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.where(q[np.arange(n), largest] < 0, -1.0, 1.0)[:, None]
    kept = np.take_along_axis(q, np.array(QUAT_SLOTS)[largest], axis=1)
    scale_book, scale_labels = quantize_1d(log_scales)
    dc_book, dc_labels = quantize_1d(sh[:, 0])
    opacity = np.round(255 / (1 + np.exp(-logits)))
    images = {
        "means_l.webp": _image(n, size, [v[:, i] & 255 for i in range(3)]),
        "means_u.webp": _image(n, size, [v[:, i] >> 8 for i in range(3)]),
        "quats.webp": _image(n, size, [np.clip(np.round(255 * (0.5 + 0.5 * SQRT2 * kept[:, i])), 0, 255)
                                       for i in range(3)], 252 + largest),
        "scales.webp": _image(n, size, [scale_labels[:, i] for i in range(3)]),
        "sh0.webp": _image(n, size, [dc_labels[:, i] for i in range(3)], opacity.astype(np.uint8)),
    }
    meta = {"version": 2, "asset": {"generator": "lift3d"}, "count": n,
            "means": {"mins": mins.tolist(), "maxs": maxs.tolist(), "files": ["means_l.webp", "means_u.webp"]},
            "scales": {"codebook": scale_book.tolist(), "files": ["scales.webp"]},
            "quats": {"files": ["quats.webp"]},
            "sh0": {"codebook": dc_book.tolist(), "files": ["sh0.webp"]}}
    coeffs = SH_COEFFS[splats.sh_degree]
    if coeffs:
        rest = torch.from_numpy(sh[:, 1:].transpose(0, 2, 1).reshape(n, 3 * coeffs).astype(np.float32))  # channel-major
        centroids, labels = kmeans(rest, palette_size(n), sh_iterations)
        sh_book, sh_labels = quantize_1d(centroids.numpy())
        k = len(centroids)
        table = np.zeros((math.ceil(k / 64) * 64, coeffs, 4), np.uint8)
        table[:k, :, :3] = sh_labels.reshape(k, 3, coeffs).transpose(0, 2, 1)
        table[:, :, 3] = 255
        labels = labels.numpy()
        images["shN_centroids.webp"] = table.reshape(-1, 64 * coeffs, 4)
        images["shN_labels.webp"] = _image(n, size, [labels & 255, labels >> 8])
        meta["shN"] = {"count": k, "bands": splats.sh_degree, "codebook": sh_book.tolist(),
                       "files": ["shN_centroids.webp", "shN_labels.webp"]}
    return images, meta


def decode_sog(meta: dict, images: dict[str, np.ndarray]) -> SplatData:
    """Raw 3DGS parameters (file axes, file order) from a version-2 ``meta`` and its decoded RGBA images."""
    n = int(meta["count"])

    def texels(name: str) -> np.ndarray:
        return images[name].reshape(-1, 4)[:n].astype(np.int64)

    lo, hi = texels(meta["means"]["files"][0]), texels(meta["means"]["files"][1])
    mins, maxs = np.array(meta["means"]["mins"]), np.array(meta["means"]["maxs"])
    mapped = mins + (maxs - mins) * ((lo[:, :3] | (hi[:, :3] << 8)) / 65535.0)
    means = np.sign(mapped) * np.expm1(np.abs(mapped))
    qt = texels(meta["quats"]["files"][0])
    largest = np.clip(qt[:, 3] - 252, 0, 3)
    kept = (qt[:, :3] / 255.0 * 2 - 1) / SQRT2
    quats = np.zeros((n, 4))
    np.put_along_axis(quats, np.array(QUAT_SLOTS)[largest], kept, axis=1)
    quats[np.arange(n), largest] = np.sqrt(np.clip(1 - (kept * kept).sum(1), 0, None))
    log_scales = np.array(meta["scales"]["codebook"])[texels(meta["scales"]["files"][0])[:, :3]]
    c0 = texels(meta["sh0"]["files"][0])
    dc = np.array(meta["sh0"]["codebook"])[c0[:, :3]]
    a = np.clip(c0[:, 3] / 255.0, 1e-6, 1 - 1e-6)
    sh = dc[:, None]
    if "shN" in meta and SH_COEFFS[meta["shN"]["bands"]]:
        coeffs = SH_COEFFS[meta["shN"]["bands"]]
        lab = texels(meta["shN"]["files"][1])
        labels = np.clip(lab[:, 0] | (lab[:, 1] << 8), 0, meta["shN"]["count"] - 1)
        table = images[meta["shN"]["files"][0]].reshape(-1, coeffs, 4)[:, :, :3].astype(np.int64)
        rest = np.array(meta["shN"]["codebook"])[table[labels]]  # [N, coeffs, 3]
        sh = np.concatenate([sh, rest], 1)
    f = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # noqa: E731
    return SplatData(f(means), f(quats), f(log_scales), f(np.log(a / (1 - a))), f(sh))
