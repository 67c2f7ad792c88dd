"""SuperSplat's compressed PLY (``.compressed.ply``), written with gsplat 1.5.3's packing (``gsplat.exporter``).

Layout (gsplat ``splat2ply_bytes_compressed``; PlayCanvas splat-transform ``decompress-ply``): splats with
``sigmoid(opacity) > 1/255`` sorted along a Morton curve in chunks of 256; element ``chunk`` holds 18 floats per
chunk (min/max of x y z, of the log-scales clamped to +-20, and of the DC colour ``0.5 + SH_C0 f_dc``); element
``vertex`` 4 uint32 per splat: position and log-scale normalised within the chunk as 11/10/11 bits, rotation as
2 bits (largest of ``(w, x, y, z)``) + 3 x 10 bits of ``q sqrt(1/2) + 0.5``, colour RGBA 8888 (alpha
``sigmoid(opacity)``); element ``sh`` ``uchar f_rest_*`` (channel-major) ``= trunc((c / 8 + 0.5) 256)``.

What lift3d uses of gsplat and why not all of it (gsplat.exporter 1.5.3):

* ``pack_111011``, ``pack_rotation``, ``pack_8888``, ``sort_centers`` are used as they are.
* Its chunk loop (``splat2ply_bytes_compressed``) is replaced: it divides by ``max - min``, which is 0 for a
  chunk of one splat (``N % 256 == 1``) or a constant column (one colour, one scale), and packs the NaN into
  garbage bits; here a zero range becomes 1 (every value sits at the chunk's min, exactly).
* ``export_splats`` itself is not called: it drops NaN/Inf rows silently, and its opacity test reduces over the
  wrong axis (``isnan(opacities).any(dim=0)`` of a 1-D tensor), so one bad opacity drops every splat. lift3d
  refuses invalid Gaussians with a message instead (:func:`lift3d.scenes.gaussians_ply.check_gaussians`).
* Its ``ply`` and ``splat`` writers are not used for lift3d's ``.ply``/``.splat``
  (:mod:`lift3d.export.splats`): its ``ply`` has no ``nx ny nz``, no axis conversion and no SH zero-padding to
  degree 3; its ``splat`` truncates colours and rotations instead of rounding and loops over splats in Python.

Alpha is capped at 254/255: splat-transform (SuperSplat) decodes 255 as ``-log(1/1 - 1)``, an infinite logit.

Bounds: positions ``extent / 2046`` (x, z) and ``/ 1022`` (y) per chunk; colours ``range / 510``; SH ``1/32``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from lift3d.export._atomic import write_bytes_atomic
from lift3d.export.splats import AXES, SH_C0, SplatAxes, SplatData

CHUNK = 256
CHUNK_PROPERTIES = [f"{m}_{k}" for m in ("min", "max") for k in "xyz"] + \
    [f"{m}_scale_{k}" for m in ("min", "max") for k in "xyz"] + [f"{m}_{k}" for m in ("min", "max") for k in "rgb"]


def _normalised(values: torch.Tensor, chunk_of: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    lo, hi = bounds
    span = hi - lo
    return (values - lo[chunk_of]) / torch.where(span > 0, span, torch.ones_like(span))[chunk_of]


def encode_compressed_ply(splats: SplatData) -> bytes:
    """Compressed-PLY bytes of ``splats`` in their own axes (splats with opacity <= 1/255 are dropped)."""
    from gsplat.exporter import pack_8888, pack_111011, pack_rotation, sort_centers

    s = splats.select(torch.sigmoid(splats.opacity_logits.float()) > 1 / 255)
    n = len(s)
    means, quats, log_scales, logits, sh = (t.detach().cpu().float() for t in s.fields())
    order = sort_centers(means, torch.arange(n)) if n else torch.arange(0)
    means, quats, log_scales, logits, sh = (t[order] for t in (means, quats, log_scales, logits, sh))
    colours = SH_C0 * sh[:, 0] + 0.5
    chunks = max(1, math.ceil(n / CHUNK))
    chunk_of = torch.arange(n) // CHUNK
    pad = torch.cat([torch.arange(n), torch.full((chunks * CHUNK - n,), max(n - 1, 0))]).long() if n else None

    def bounds(t: torch.Tensor, clamp: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if n == 0:
            return torch.zeros(chunks, 3), torch.zeros(chunks, 3)
        blocks = t[pad].reshape(chunks, CHUNK, 3)
        lo, hi = blocks.min(1).values, blocks.max(1).values
        return (lo.clamp(-clamp, clamp), hi.clamp(-clamp, clamp)) if clamp else (lo, hi)

    b_pos, b_scale, b_col = bounds(means), bounds(log_scales, 20.0), bounds(colours)
    p = _normalised(means, chunk_of, b_pos)
    sc = _normalised(log_scales, chunk_of, b_scale)
    c = _normalised(colours, chunk_of, b_col)
    packed = torch.stack([pack_111011(p[:, 0], p[:, 1], p[:, 2]), pack_rotation(quats.clone()),
                          pack_111011(sc[:, 0], sc[:, 1], sc[:, 2]),
                          pack_8888(c[:, 0], c[:, 1], c[:, 2], torch.sigmoid(logits).clamp(max=254 / 255))], 1)
    rest = sh[:, 1:].transpose(1, 2).reshape(n, -1)  # channel-major f_rest
    sh_bytes = torch.clamp(torch.trunc((rest / 8 + 0.5) * 256), 0, 255).to(torch.uint8)
    chunk_table = torch.cat([b_pos[0], b_pos[1], b_scale[0], b_scale[1], b_col[0], b_col[1]], 1)
    header = ["ply", "format binary_little_endian 1.0", f"element chunk {chunks if n else 0}",
              *(f"property float {name}" for name in CHUNK_PROPERTIES), f"element vertex {n}",
              *(f"property uint packed_{k}" for k in ("position", "rotation", "scale", "color"))]
    if rest.shape[1]:
        header += [f"element sh {n}", *(f"property uchar f_rest_{j}" for j in range(rest.shape[1]))]
    body = (chunk_table[: chunks if n else 0].numpy().astype("<f4").tobytes() + packed.numpy().astype("<u4").tobytes()
            + (sh_bytes.numpy().tobytes() if rest.shape[1] else b""))
    return ("\n".join(header) + "\nend_header\n").encode() + body


def save_compressed_ply(splats: SplatData, path: str | os.PathLike, axes: SplatAxes = "y_down",
                        overwrite: bool = False) -> Path:
    """Write SuperSplat's ``.compressed.ply`` (module docstring) in ``axes`` (default as lift3d's ``.ply``)."""
    return write_bytes_atomic(path, encode_compressed_ply(splats.rotated(AXES[axes])), overwrite)


def decode_compressed_ply(chunk: np.ndarray, vertex: np.ndarray, sh: np.ndarray | None) -> SplatData:
    """Raw 3DGS parameters from the ``chunk`` ``[C, 18]`` floats, ``vertex`` ``[N, 4]`` uint32 and ``sh`` bytes."""
    v = vertex.astype(np.int64)
    ci = np.arange(len(v)) // CHUNK

    def unorm(x: np.ndarray, bits: int) -> np.ndarray:
        return (x & ((1 << bits) - 1)) / ((1 << bits) - 1)

    def lerp(word: np.ndarray, lo: int) -> np.ndarray:
        t = np.stack([unorm(word >> 21, 11), unorm(word >> 11, 10), unorm(word, 11)], 1)
        a, b = chunk[ci, lo:lo + 3], chunk[ci, lo + 3:lo + 6]
        return a * (1 - t) + b * t

    r = (np.stack([unorm(v[:, 1] >> 20, 10), unorm(v[:, 1] >> 10, 10), unorm(v[:, 1], 10)], 1) - 0.5) / (0.5 * math.sqrt(2))
    largest = v[:, 1] >> 30
    quats = np.zeros((len(v), 4))
    np.put_along_axis(quats, np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest], r, axis=1)
    quats[np.arange(len(v)), largest] = np.sqrt(np.clip(1 - (r * r).sum(1), 0, None))
    rgb = np.stack([unorm(v[:, 3] >> s, 8) for s in (24, 16, 8)], 1)
    colours = chunk[ci, 12:15] * (1 - rgb) + chunk[ci, 15:18] * rgb
    a = np.clip(unorm(v[:, 3], 8), 1e-6, 1 - 1e-6)
    sh_rest = np.zeros((len(v), 0, 3))
    if sh is not None and sh.shape[1]:
        x = sh.astype(np.float64)
        norm = np.where(x == 0, 0.0, np.where(x == 255, 1.0, (x + 0.5) / 256))
        sh_rest = ((norm - 0.5) * 8).reshape(len(v), 3, -1).transpose(0, 2, 1)
    dc = (colours - 0.5) / SH_C0
    f = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # noqa: E731
    return SplatData(f(lerp(v[:, 0], 0)), f(quats), f(lerp(v[:, 2], 6)), f(np.log(a / (1 - a))),
                     f(np.concatenate([dc[:, None], sh_rest], 1)))


def load_compressed_ply(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read a ``.compressed.ply`` into lift3d's world axes (as splat-transform decodes it)."""
    from plyfile import PlyData

    from lift3d.scenes.gaussians_ply import SplatFileError, check_gaussians

    try:
        ply = PlyData.read(str(path))
        chunk = np.stack([np.asarray(ply["chunk"][k], np.float64) for k in CHUNK_PROPERTIES], 1)
        vertex = np.stack([np.asarray(ply["vertex"][f"packed_{k}"], np.uint32)
                           for k in ("position", "rotation", "scale", "color")], 1)
        sh = None
        if "sh" in ply:
            names = sorted(ply["sh"].data.dtype.names, key=lambda n: int(n.rsplit("_", 1)[1]))
            sh = np.stack([np.asarray(ply["sh"][k]) for k in names], 1)
    except Exception as e:  # plyfile raises many types on corrupt files
        raise SplatFileError(f"cannot read {path} as a compressed PLY ({type(e).__name__}: {e}).") from None
    data = decode_compressed_ply(chunk, vertex, sh)
    return data.select(check_gaussians(path, *data.fields(), drop_invalid)).rotated(AXES[axes].T)
