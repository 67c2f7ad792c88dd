"""Niantic's SPZ splat format (``.spz``): read versions 2-4, write version 3 (gzip) or 4 (zstd).

Layout (nianticlabs/spz ``load-spz.cc``, and PlayCanvas splat-transform's pure-JS ``readSpz``; see also
../shared/reference/wave2.md section 1). All little-endian:

* header: ``magic u32 0x5053474E ("NGSP"), version u32, numPoints u32, shDegree u8, fractionalBits u8,
  flags u8 (0x1 antialiased, 0x2 extensions), reserved u8`` (16 bytes). Versions 2-3: header + payload, the
  whole file gzipped. Version 4: a plain 32-byte header (byte 15 numStreams, bytes 16-19 tocByteOffset),
  extension records, a table of ``(compressed u64, raw u64)`` per stream, then one zstd stream per attribute.
* attributes, in order: positions ``3 x int24 round(x * 2^fractionalBits)``; alphas ``u8 255 sigmoid(logit)``;
  colours ``u8 127.5 + 0.15 * 255 * f_dc`` (SH DC, not RGB); scales ``u8 16 (ln s + 10)``; rotations (v2:
  ``u8 127.5 (q + 1)`` of x, y, z with w >= 0; v3+: smallest-three in a u32: top 2 bits the index of the
  largest of ``(x, y, z, w)``, made positive, then the other three in order, each a sign bit and 9 bits of
  ``|q| / sqrt(1/2) * 511``, the last in the lowest bits); SH ``u8 128 + round(128 c)``, coefficient-major with
  RGB innermost, snapped to 5 bits for degree 1 and 4 bits above (Niantic's ``quantizeSH``).

Quantisation bounds of a round trip (what ``tests/test_export_spz.py`` checks): positions ``2^-13`` (12
fractional bits; ``|x| < 2048`` or the writer refuses), ``sigmoid(opacity)`` ``0.5/255``, ``f_dc``
``0.5 / 38.25 = 0.0131`` (within ``|f_dc| <= 3.33``), log-scales ``1/32`` (within ``[-10, 5.9]``), each
quaternion component ``sqrt(1/2) / 1022`` plus the re-derived largest one, SH ``(bucket/2 + 0.5) / 128``
(degree 1: 0.035, above: 0.066, within ``[-1, 1)``).

Axes: the SPZ spec stores RUB (x right, y up, z back), but Niantic's PLY converter and PlayCanvas
splat-transform/SuperSplat write and read the PLY's own RDF axes unchanged (nianticlabs/spz issue #84), so
lift3d writes SPZ in the same ``axes`` as its ``.ply`` (default ``y_down`` = RDF). ``axes="y_up"`` is RUB,
the spec's convention (three.js-style readers that apply no flip).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from lift3d.export._atomic import write_bytes_atomic
from lift3d.export.splats import AXES, SplatAxes, SplatData
from lift3d.types import LiftError

MAGIC = 0x5053474E
COLOR_SCALE = 0.15
"""SPZ stores ``f_dc`` as ``0.5 + 0.15 f_dc`` in 8 bits (Niantic's ``colorScale``)."""
FRACTIONAL_BITS = 12
SQRT1_2 = 0.7071067811865476


def _quantize_sh(x: np.ndarray, bits: int) -> np.ndarray:
    bucket = 1 << (8 - bits)
    q = np.round(x * 128.0).astype(np.int64) + 128
    q = (q + bucket // 2) // bucket * bucket
    return np.clip(q, 0, 255).astype(np.uint8)


def _pack_quats(q: np.ndarray) -> np.ndarray:
    """Smallest-three u32 of ``[N, 4]`` ``(w, x, y, z)`` quaternions (stored order ``x, y, z, w``)."""
    q = q[:, [1, 2, 3, 0]] / np.linalg.norm(q, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.where(q[np.arange(len(q)), largest] < 0, -1.0, 1.0)[:, None]
    packed = np.zeros(len(q), np.uint32)
    for j in range(4):
        mag = np.clip(np.round(np.abs(q[:, j]) / SQRT1_2 * 511), 0, 511).astype(np.uint32)
        comp = ((q[:, j] < 0).astype(np.uint32) << 9) | mag
        packed = np.where(largest == j, packed, (packed << 10) | comp)
    return packed | (largest.astype(np.uint32) << 30)


def _unpack_quats(packed: np.ndarray) -> np.ndarray:
    largest = (packed >> 30).astype(np.int64)
    q = np.zeros((len(packed), 4))
    rest = packed.copy()
    for j in range(3, -1, -1):
        skip = largest == j
        v = SQRT1_2 * (rest & 511) / 511.0 * np.where((rest >> 9) & 1, -1.0, 1.0)
        q[:, j] = np.where(skip, 0.0, v)
        rest = np.where(skip, rest, rest >> 10)
    q[np.arange(len(q)), largest] = np.sqrt(np.clip(1.0 - (q * q).sum(1), 0.0, None))
    return q[:, [3, 0, 1, 2]]


def encode_spz(splats: SplatData, version: int = 3, antialiased: bool = False) -> bytes:
    """SPZ bytes of ``splats`` in their own axes (no rotation). ``version`` 3 (gzip) or 4 (zstd).

    Raises:
        LiftError: a position beyond the 24-bit range (``|x| >= 2048``), or an unknown version.
    """
    if version not in (3, 4):
        raise LiftError(f"SPZ version {version} cannot be written; use 3 (gzip, widest support) or 4 (zstd).")
    means, quats, log_scales, logits, sh = (t.detach().cpu().double().numpy() for t in splats.fields())
    n, degree = len(splats), splats.sh_degree
    fixed = np.round(means * (1 << FRACTIONAL_BITS)).astype(np.int64)
    if n and np.abs(fixed).max() >= 1 << 23:
        raise LiftError(f"SPZ stores positions in 24 bits with {FRACTIONAL_BITS} fractional bits (|x| < 2048); "
                        f"these splats reach {np.abs(means).max():.1f}: scale the scene down first.")
    positions = (fixed[..., None] >> np.array([0, 8, 16])) & 0xFF
    alphas = np.round(255.0 / (1.0 + np.exp(-logits)))
    colors = np.round(sh[:, 0] * (COLOR_SCALE * 255) + 127.5)
    scales = np.round((log_scales + 10.0) * 16.0)
    bits = np.array([5] * 3 + [4] * 12)[: sh.shape[1] - 1]
    shn = np.stack([_quantize_sh(sh[:, 1 + k], int(b)) for k, b in enumerate(bits)], 1) if degree else None
    streams = [positions.astype(np.uint8), np.clip(alphas, 0, 255).astype(np.uint8),
               np.clip(colors, 0, 255).astype(np.uint8), np.clip(scales, 0, 255).astype(np.uint8),
               _pack_quats(quats).astype("<u4")] + ([shn] if degree else [])
    raw = [s.tobytes() for s in streams]
    flags = 0x1 if antialiased else 0
    if version == 3:
        return gzip.compress(struct.pack("<IIIBBBB", MAGIC, 3, n, degree, FRACTIONAL_BITS, flags, 0) + b"".join(raw), 6)
    import zstandard

    packed = [zstandard.ZstdCompressor(level=12).compress(r) for r in raw]
    header = struct.pack("<IIIBBBBI", MAGIC, 4, n, degree, FRACTIONAL_BITS, flags, len(raw), 32).ljust(32, b"\0")
    toc = b"".join(struct.pack("<QQ", len(p), len(r)) for p, r in zip(packed, raw))
    return header + toc + b"".join(packed)


def _payload(path: Path, data: bytes) -> tuple[int, int, int, int, int, list[bytes]]:
    """``(version, n, degree, fractional_bits, flags, [positions, alphas, colours, scales, rotations, sh])``."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 16:
        raise LiftError(f"{path} is not an SPZ file (shorter than its 16-byte header); it may be truncated.")
    magic, version, n, degree, fb, flags, _ = struct.unpack_from("<IIIBBBB", data)
    if magic != MAGIC or not 2 <= version <= 4 or degree > 4:
        raise LiftError(f"{path} is not a readable SPZ file (magic {magic:#x}, version {version}, SH degree {degree}); "
                        "lift3d reads SPZ versions 2-4.")
    k = [0, 3, 8, 15, 24][degree] * 3
    sizes = [9 * n, n, 3 * n, 3 * n, (3 if version == 2 else 4) * n, k * n]
    if version < 4:
        offsets = np.cumsum([16] + sizes)
        if len(data) < offsets[-1]:
            raise LiftError(f"{path}: SPZ payload is {len(data) - 16} bytes, {offsets[-1] - 16} expected; truncated?")
        return version, n, degree, fb, flags, [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    import zstandard

    count, toc = data[15], struct.unpack_from("<I", data, 16)[0]
    entries = [struct.unpack_from("<QQ", data, toc + 16 * i) for i in range(count)]
    offset, streams = toc + 16 * count, []
    for (compressed, raw_size), want in zip(entries, sizes):
        chunk = zstandard.ZstdDecompressor().decompress(data[offset:offset + compressed], max_output_size=raw_size)
        if raw_size != want or len(chunk) != want:
            raise LiftError(f"{path}: SPZ stream of {len(chunk)} bytes where {want} were expected; corrupt file?")
        streams.append(chunk)
        offset += compressed
    return version, n, degree, fb, flags, streams + [b""] * (6 - len(streams))


def decode_spz(data: bytes, path: str | os.PathLike = "<bytes>") -> SplatData:
    """Decode SPZ bytes (versions 2-4) into raw 3DGS parameters in the file's axes; SH degree 4 is truncated to 3."""
    version, n, degree, fb, _, (pos, alpha, col, scale, rot, shb) = _payload(Path(path), data)
    p = np.frombuffer(pos, np.uint8).reshape(n, 3, 3).astype(np.int64)
    fixed = p[..., 0] | (p[..., 1] << 8) | (p[..., 2] << 16)
    means = np.where(fixed & 0x800000, fixed - (1 << 24), fixed) / float(1 << fb)
    a = np.clip(np.frombuffer(alpha, np.uint8) / 255.0, 1e-6, 1 - 1e-6)
    dc = (np.frombuffer(col, np.uint8).reshape(n, 3) / 255.0 - 0.5) / COLOR_SCALE
    log_scales = np.frombuffer(scale, np.uint8).reshape(n, 3) / 16.0 - 10.0
    if version == 2:
        xyz = np.frombuffer(rot, np.uint8).reshape(n, 3) / 127.5 - 1.0
        quats = np.concatenate([np.sqrt(np.clip(1 - (xyz * xyz).sum(1, keepdims=True), 0, None)), xyz], 1)
    else:
        quats = _unpack_quats(np.frombuffer(rot, "<u4").astype(np.uint32))
    k = [0, 3, 8, 15, 24][degree]
    rest = (np.frombuffer(shb, np.uint8).reshape(n, k, 3) - 128.0) / 128.0 if k else np.zeros((n, 0, 3))
    sh = np.concatenate([dc[:, None], rest[:, :15]], 1)
    f = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # noqa: E731
    return SplatData(f(means), f(quats), f(log_scales), f(np.log(a / (1 - a))), f(sh))


def save_spz(splats: SplatData, path: str | os.PathLike, axes: SplatAxes = "y_down", overwrite: bool = False,
             version: int = 3) -> Path:
    """Write ``.spz`` (module docstring) in ``axes`` (default as lift3d's ``.ply``: RDF, what SuperSplat reads)."""
    return write_bytes_atomic(path, encode_spz(splats.rotated(AXES[axes]), version), overwrite)


def load_spz(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read ``.spz`` (versions 2-4) into lift3d's world axes; refuses invalid Gaussians as :func:`load_3dgs_ply`."""
    from lift3d.scenes.gaussians_ply import SplatFileError, check_gaussians

    path = Path(path)
    if not path.is_file():
        raise LiftError(f"splat file {path} does not exist.")
    try:
        data = decode_spz(path.read_bytes(), path)
    except LiftError:
        raise
    except Exception as e:  # gzip/zstd/struct errors on corrupt files
        raise SplatFileError(f"cannot read {path} as SPZ ({type(e).__name__}: {e}); it may be corrupt or truncated.") from None
    return data.select(check_gaussians(path, *data.fields(), drop_invalid)).rotated(AXES[axes].T)
