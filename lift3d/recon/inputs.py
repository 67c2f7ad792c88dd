"""Input images for image-to-3D: read any file PIL reads, find the object's mask, frame it canonically.

* RGBA (or LA, or a palette with transparency): the alpha channel is the mask.
* RGB on a uniform background: the background colour is the median of the border pixels; when at
  least ``border_fraction`` of the border is within ``tolerance`` of it, pixels further from it than
  ``tolerance`` are the object. Otherwise a :class:`LiftError` asks for RGBA or ``--mask``.
* Any mode (grayscale, 16-bit, 32-bit float, palette, CMYK) and EXIF orientation
  (``PIL.ImageOps.exif_transpose``) are converted; images larger than :data:`MAX_SIDE` are
  downscaled first; corrupt or non-image files give one clear line.
* Framing: the object's bounding box is centred and scaled so its longer side is :data:`CANONICAL_FILL`
  of the image, the typical framing of a procedural object at the canonical input camera
  (:mod:`lift3d.recon.camera`). The result is RGB over white plus the mask, ``[S, S, 4]`` in [0, 1].
* :func:`prepare_input` also returns the :class:`Framing`: original size, object bounding box, mask
  source and the pixel mapping ``framed = scale * original + offset`` (``lift3d reconstruct`` writes it
  to the run's ``input.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lift3d.types import LiftError

MAX_SIDE = 2048
"""Larger images are downscaled (aspect kept) before any processing."""
CANONICAL_FILL = 0.54
"""Longer bounding-box side / image side of a procedural object seen from the canonical input camera
(mean over the training objects)."""

MaskSource = Literal["alpha", "background", "mask"]


@dataclass(frozen=True)
class Framing:
    """How :func:`prepare_input` framed an image. Pixel coordinates are x right, y down, with the image's
    top-left corner at (0, 0) and pixel ``i`` spanning ``[i, i + 1)``; a point at ``(x, y)`` of the original
    image lands at ``scale * (x, y) + offset`` of the ``resolution`` x ``resolution`` framed image."""

    size: tuple[int, int]
    """Width and height of the original image (after its EXIF orientation)."""
    bbox: tuple[float, float, float, float] | None
    """The object's bounding box ``(x0, y0, x1, y1)`` (mask > 0.5) in original pixels; None for an empty mask."""
    scale: tuple[float, float]
    offset: tuple[float, float]
    resolution: int
    recentred: bool
    mask_source: MaskSource
    """``alpha`` (the image's alpha channel), ``background`` (segmented from a uniform background) or
    ``mask`` (a mask file)."""
    background: tuple[float, float, float] | None = None
    """The segmented background colour (RGB in [0, 1]) when ``mask_source`` is ``background``."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _to_float_array(img) -> np.ndarray:
    """A PIL image of any mode to ``[H, W, 4]`` float RGBA in [0, 1] (alpha 1 where the mode has none)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and a.max() > 255) else (255.0 if mode == "I" else 1.0)
        a = np.clip(a / top, 0.0, 1.0)
        return np.concatenate([np.repeat(a[..., None], 3, -1), np.ones_like(a)[..., None]], -1)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode != "RGBA":
        img = img.convert("RGB")
    a = np.asarray(img, dtype=np.float64) / 255.0
    if a.shape[-1] == 3:
        a = np.concatenate([a, np.ones_like(a[..., :1])], -1)
    return a


def read_image(path: str | Path) -> tuple[np.ndarray, bool]:
    """Read ``path`` as ``[H, W, 4]`` float RGBA and whether it carried an alpha channel.

    Raises:
        LiftError: missing, unreadable or corrupt file (one line, naming it).
    """
    rgba, has_alpha, _ = _read(path)
    return rgba, has_alpha


def _read(path: str | Path) -> tuple[np.ndarray, bool, tuple[int, int]]:
    """:func:`read_image` and the original ``(width, height)`` (before any downscaling)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise LiftError(f"input image {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            has_alpha = img.mode in ("RGBA", "LA", "La", "PA", "RGBa") or (img.mode == "P" and "transparency" in img.info)
            size = img.size
            if max(img.size) > MAX_SIDE:
                if img.mode not in ("RGB", "RGBA", "L"):
                    img = img.convert("RGBA" if has_alpha else "RGB")
                img.thumbnail((MAX_SIDE, MAX_SIDE))
            return _to_float_array(img), has_alpha, size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise LiftError(f"cannot read {path} as an image ({type(e).__name__}: {e}); pass a PNG/JPEG/WebP file") from None


def background_colour(rgb: np.ndarray, tolerance: float = 0.08, border_fraction: float = 0.9) -> np.ndarray | None:
    """The uniform background colour ``[3]`` of ``rgb [H, W, 3]`` (median of the border), or None if the border
    is not uniform."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    colour = np.median(border, axis=0)
    if (np.abs(border - colour).max(-1) <= tolerance).mean() < border_fraction:
        return None
    return colour


def background_mask(rgb: np.ndarray, tolerance: float = 0.08, border_fraction: float = 0.9) -> np.ndarray | None:
    """Soft object mask ``[H, W]`` of ``rgb [H, W, 3]`` on a uniform background, or None if it is not uniform."""
    colour = background_colour(rgb, tolerance, border_fraction)
    if colour is None:
        return None
    distance = np.abs(rgb - colour).max(-1)
    return np.clip((distance - 0.5 * tolerance) / (0.5 * tolerance), 0.0, 1.0)


def object_bbox(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` pixel edges of ``alpha [H, W] > 0.5``, or None when it is empty."""
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _crop(bbox: tuple[int, int, int, int], fill: float) -> tuple[float, float, float]:
    """Centre ``(cx, cy)`` and side of the square that frames ``bbox`` at ``fill``."""
    x0, y0, x1, y1 = bbox
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0) / fill


def frame_object(rgba: np.ndarray, resolution: int, fill: float = CANONICAL_FILL) -> torch.Tensor:
    """Centre the mask's bounding box and scale its longer side to ``fill`` of a ``resolution`` image.

    Args:
        rgba: ``[H, W, 4]`` colour and mask.

    Returns:
        ``[resolution, resolution, 4]``: RGB composited over white, and the mask.
    """
    alpha = rgba[..., 3]
    bbox = object_bbox(alpha)
    if bbox is None:
        raise LiftError("no object found in the input image (its mask is empty); pass an RGBA image or --mask")
    cx, cy, side = _crop(bbox, fill)
    t = torch.as_tensor(rgba, dtype=torch.float32)
    premul = torch.cat([t[..., :3] * t[..., 3:], t[..., 3:]], -1).permute(2, 0, 1)[None]  # [1, 4, H, W]
    H, W = alpha.shape
    # Sample a side x side square centred at (cx, cy): grid_sample with zero padding (transparent outside).
    lin = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution - 0.5
    gx = (cx + lin * side) / W * 2 - 1
    gy = (cy + lin * side) / H * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    if side > 2 * resolution:  # area-average first when shrinking a lot (anti-aliasing)
        k = max(1, int(side // (2 * resolution)))
        premul = torch.nn.functional.avg_pool2d(premul, k, ceil_mode=True)
    out = torch.nn.functional.grid_sample(premul, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    out = out.permute(1, 2, 0).clamp(0, 1)
    a = out[..., 3:]
    return torch.cat([out[..., :3] + (1 - a), a], -1)


def prepare_image(path: str | Path, resolution: int, mask: str | Path | None = None, recenter: bool = True,
                  tolerance: float = 0.08) -> torch.Tensor:
    """Read an image (and optional mask file) and return the model input ``[resolution, resolution, 4]``.

    Args:
        path: the image. mask: optional grayscale mask file (white = object), same size as the image.
        recenter: reframe the object canonically; with False the image is only resized (use it for images
            already taken from the canonical camera, e.g. procedural renders).
        tolerance: background colour tolerance for RGB images (max abs channel difference).
    """
    return prepare_input(path, resolution, mask, recenter, tolerance)[0]


def prepare_input(path: str | Path, resolution: int, mask: str | Path | None = None, recenter: bool = True,
                  tolerance: float = 0.08) -> tuple[torch.Tensor, Framing]:
    """:func:`prepare_image` and how it framed the image (:class:`Framing`)."""
    rgba, has_alpha, size = _read(path)
    source: MaskSource = "alpha"
    colour = None
    if mask is not None:
        m, _ = read_image(mask)
        if m.shape[:2] != rgba.shape[:2]:
            raise LiftError(f"mask {mask} is {m.shape[1]}x{m.shape[0]} but the image is {rgba.shape[1]}x{rgba.shape[0]}")
        rgba[..., 3] = m[..., :3].mean(-1)
        source = "mask"
    elif not has_alpha or rgba[..., 3].min() > 0.99:
        colour = background_colour(rgba[..., :3], tolerance)
        if colour is None:
            raise LiftError(f"{path} has no alpha channel and no uniform background to segment; pass an RGBA "
                            "image or a mask with --mask")
        rgba[..., 3] = background_mask(rgba[..., :3], tolerance)
        source = "background"
    H, W = rgba.shape[:2]
    fx, fy = W / size[0], H / size[1]  # read pixels per original pixel (< 1 when downscaled on reading)
    bbox = object_bbox(rgba[..., 3])
    if recenter:
        out = frame_object(rgba, resolution, fill=CANONICAL_FILL)
        assert bbox is not None  # frame_object refuses an empty mask
        cx, cy, side = _crop(bbox, CANONICAL_FILL)
        s = resolution / side
        scale, offset = (s * fx, s * fy), (resolution / 2 - s * cx, resolution / 2 - s * cy)
    else:
        t = torch.as_tensor(rgba, dtype=torch.float32)
        premul = torch.cat([t[..., :3] * t[..., 3:], t[..., 3:]], -1).permute(2, 0, 1)[None]
        out = torch.nn.functional.interpolate(premul, size=(resolution, resolution), mode="bilinear", antialias=True,
                                             align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)
        out = torch.cat([out[..., :3] + (1 - out[..., 3:]), out[..., 3:]], -1)
        scale, offset = (resolution / size[0], resolution / size[1]), (0.0, 0.0)
    framing = Framing(
        size=(int(size[0]), int(size[1])),
        bbox=None if bbox is None else (bbox[0] / fx, bbox[1] / fy, bbox[2] / fx, bbox[3] / fy),
        scale=scale, offset=offset, resolution=resolution, recentred=recenter, mask_source=source,
        background=None if colour is None else (float(colour[0]), float(colour[1]), float(colour[2])))
    return out, framing
