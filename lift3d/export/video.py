"""Turntable videos (MP4 via imageio-ffmpeg's bundled ffmpeg, or GIF) from a list of rendered frames."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lift3d.export._atomic import atomic_path
from lift3d.types import LiftError


def _to_uint8(frame: torch.Tensor | np.ndarray) -> np.ndarray:
    a = frame.detach().cpu().numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be [H, W, 3|4] channels-last, got {a.shape}")
    if a.dtype != np.uint8:
        a = (np.clip(a[..., :3], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


def save_video(frames: Sequence[torch.Tensor | np.ndarray] | torch.Tensor, path: str | os.PathLike, fps: int = 24,
               overwrite: bool = False) -> Path:
    """Write ``frames`` (each ``[H, W, 3]`` float in [0, 1] or uint8; or one ``[T, H, W, 3]`` tensor).

    The suffix picks the container: ``.mp4`` (H.264, yuv420p, odd sizes padded to even by repeating
    the last row/column; every browser and DCC player reads it) or ``.gif`` (looping).
    """
    import imageio.v2 as imageio

    suffix = Path(path).suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise LiftError(f"unknown video format {suffix!r} for {path}; use .mp4 or .gif.")
    images = [_to_uint8(f) for f in frames]
    if suffix == ".mp4":  # yuv420p needs even sizes: replicate the last row/column instead of rescaling
        images = [np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge") for a in images]
    if not images:
        raise ValueError("no frames to write")
    with atomic_path(path, overwrite) as tmp:
        if suffix == ".mp4":
            with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, pixelformat="yuv420p",
                                    macro_block_size=2, format="FFMPEG") as writer:
                for image in images:
                    writer.append_data(image)
        else:
            imageio.mimsave(tmp, images, format="GIF", duration=1000.0 / fps, loop=0)
    return Path(path)
