"""PlayCanvas SOG splats: ``meta.json`` (version 2) plus lossless 8-bit WebP images, bundled as a ``.sog`` zip
or as separate files beside ``meta.json``.

Layout (PlayCanvas SOG spec on developer.playcanvas.com, and splat-transform 3.x ``writeSog``/``readSogSourceV2``;
../shared/reference/wave2.md section 2). Pixel ``i`` of every W x H image (top-left, row-major) is splat ``i``;
splats are written in Morton order of their positions (better WebP compression; readers do not care), with
``W = ceil(sqrt(N) / 4) * 4`` and ``H = ceil(N / W / 4) * 4``.

* ``means_l``/``means_u``: ``n = sign(x) ln(1 + |x|)`` as 16 bits over ``[mins, maxs]`` of ``meta.means``, low and
  high bytes in RGB.
* ``quats``: smallest-three of the PLY's ``rot_0..3 = (w, x, y, z)``: the largest made positive and dropped, the
  others ``255 (0.5 + 0.5 sqrt(2) q)`` in RGB, alpha ``252 + index`` of the dropped one.
* ``scales``: RGB index a 256-entry ``codebook`` of log-scales. ``sh0``: RGB index the ``f_dc`` codebook, alpha
  ``255 sigmoid(opacity)``. Codebooks are 1-D k-means (exact when a column has <= 256 distinct values).
* ``shN`` (SH degree >= 1): ``labels`` (RG = 16-bit palette index) into ``centroids`` (64 palette entries per
  row, ``3/8/15`` pixels each, RGB indexing the ``shN.codebook``); the palette is k-means of the channel-major
  ``f_rest`` vectors (10 iterations), ``min(64, 2^floor(log2(N / 1024))) * 1024`` entries (``N`` up to 1024: one each).

WebPs are written with libwebp's ``exact`` flag, so RGB under a zero alpha (transparent splats in ``sh0``) is
kept. Axes: as lift3d's ``.ply`` (default ``y_down``: splat-transform treats SOG as PLY space).
Quantisation bounds: positions ``(exp(d) - 1)(1 + |x|)`` with ``d = (max - min) / 131070`` of the log-mapped
range, quaternion components ``1 / (255 sqrt 2)``, ``sigmoid(opacity)`` ``0.5/255``; codebooks as k-means leaves them.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from lift3d.export._atomic import check_writable, write_bytes_atomic
from lift3d.export.sog_quantize import SH_COEFFS, SQRT2, kmeans, morton_order, quantize_1d, texture_size  # noqa: F401
from lift3d.export.splats import AXES, SplatAxes, SplatData
from lift3d.types import LiftError


def _webp(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(buf, "WEBP", lossless=True, exact=True,
                                                                              quality=100, method=4)
    return buf.getvalue()


def encode_sog(splats: SplatData, sh_iterations: int = 10) -> dict[str, bytes]:
    """``{filename: bytes}`` of a SOG (``meta.json`` and its WebPs) of ``splats`` in their own axes."""
    from lift3d.export.sog_images import sog_images

    images, meta = sog_images(splats, sh_iterations)
    return {"meta.json": json.dumps(meta).encode(), **{name: _webp(img) for name, img in images.items()}}


def save_sog(splats: SplatData, path: str | os.PathLike, axes: SplatAxes = "y_down", overwrite: bool = False,
             sh_iterations: int = 10) -> list[Path]:
    """Write a ``.sog`` bundle (a zip), or ``meta.json`` + WebPs when ``path`` is named ``meta.json``."""
    path = Path(path)
    files = encode_sog(splats.rotated(AXES[axes]), sh_iterations)
    if path.name.lower() == "meta.json":
        targets = [path.parent / name for name in files]
        for target in targets:
            check_writable(target, overwrite)
        written = [write_bytes_atomic(path.parent / n, d, overwrite) for n, d in files.items() if n != "meta.json"]
        return [write_bytes_atomic(path, files["meta.json"], overwrite), *written]  # meta.json last but listed first
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return [write_bytes_atomic(path, buf.getvalue(), overwrite)]


def _read_files(path: Path) -> tuple[dict, callable]:
    if zipfile.is_zipfile(path):
        bundle = zipfile.ZipFile(path)
        names = {Path(n).name: n for n in bundle.namelist()}
        if "meta.json" not in names:
            raise LiftError(f"{path} is a zip without meta.json; not a SOG bundle.")
        return json.loads(bundle.read(names["meta.json"])), lambda name: bundle.read(names[name])
    return json.loads(path.read_text()), lambda name: (path.parent / name).read_bytes()


def load_sog(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read a SOG (``.sog`` bundle or ``meta.json``, version 2) into lift3d's world axes."""
    from lift3d.export.sog_images import decode_sog
    from lift3d.scenes.gaussians_ply import SplatFileError, check_gaussians

    path = Path(path)
    if not path.is_file():
        raise LiftError(f"splat file {path} does not exist.")
    try:
        meta, read = _read_files(path)
        if meta.get("version") != 2:
            raise LiftError(f"{path}: SOG meta version {meta.get('version', '1 (legacy)')}; lift3d reads version 2 "
                            "(convert with splat-transform).")
        images = {name: np.asarray(Image.open(io.BytesIO(read(name))).convert("RGBA"))
                  for key in ("means", "quats", "scales", "sh0", "shN") if key in meta for name in meta[key]["files"]}
        data = decode_sog(meta, images)
    except LiftError:
        raise
    except Exception as e:  # json/zip/PIL errors on corrupt files
        raise SplatFileError(f"cannot read {path} as SOG ({type(e).__name__}: {e}); it may be corrupt or truncated.") from None
    return data.select(check_gaussians(path, *data.fields(), drop_invalid)).rotated(AXES[axes].T)
