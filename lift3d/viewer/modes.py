"""Render modes of the viewer: what a frame shows of a renderer's :class:`~lift3d.types.RenderOutput`.

* ``rgb``: the colour as the renderer composited it over its background (white in the viewer).
* ``alpha``: accumulated opacity as grey (black: empty, white: opaque).
* ``depth``: the renderer's expected camera-z depth, normalized to the visible pixels (alpha > 0.5) of this
  frame: the nearest is white, the farthest dark grey (0.2); weighted by alpha over black, so empty pixels are
  black. Frames of different views are therefore not on one scale.
* ``normals``: unit normals in *camera* space, OpenGL axes (x right, y up, z toward the viewer), shown as
  ``n * 0.5 + 0.5`` weighted by alpha over black: a surface facing the camera is ``(0.5, 0.5, 1)`` (blue-violet).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from lift3d.cameras import Cameras
from lift3d.types import LiftError, RenderOutput

RenderMode = Literal["rgb", "alpha", "depth", "normals"]
MODES: tuple[RenderMode, ...] = get_args(RenderMode)
FAR_GREY = 0.2
"""Grey level of the farthest visible pixel in ``depth`` mode (the nearest is 1)."""
_OPENCV_TO_OPENGL = torch.tensor([1.0, -1.0, -1.0])


def mode_image(out: RenderOutput, cameras: Cameras, mode: RenderMode) -> torch.Tensor:
    """``[H, W, 3]`` in [0, 1] of the first camera of ``out`` in ``mode`` (module docstring)."""
    alpha = out.alpha[0].detach().float().cpu().clamp(0, 1)  # [H, W, 1]
    if mode == "rgb":
        return out.rgb[0].detach().float().cpu().clamp(0, 1)
    if mode == "alpha":
        return alpha.expand(-1, -1, 3)
    if mode == "depth":
        if out.depth is None:
            raise LiftError("this renderer gives no depth")
        return depth_image(out.depth[0].detach().float().cpu(), alpha)
    if mode == "normals":
        if out.normal is None:
            raise LiftError("this renderer gives no normals")
        c2w = cameras.c2w[0, :3, :3].detach().float().cpu()
        return normal_image(out.normal[0].detach().float().cpu(), alpha, c2w)
    raise LiftError(f"unknown render mode {mode!r}; choose one of {', '.join(MODES)}")


def depth_image(depth: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``[H, W, 3]``: ``depth [H, W, 1]`` mapped near..far of the pixels with alpha > 0.5 to 1..FAR_GREY, times alpha."""
    visible = alpha[..., 0] > 0.5
    if not visible.any():
        return torch.zeros(*depth.shape[:2], 3)
    near, far = depth[visible].min(), depth[visible].max()
    t = ((depth - near) / (far - near).clamp_min(1e-8)).clamp(0, 1)
    return ((1.0 - (1.0 - FAR_GREY) * t) * alpha).expand(-1, -1, 3)


def normal_image(normal: torch.Tensor, alpha: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """``[H, W, 3]``: world normals ``[H, W, 3]`` (any length) in OpenGL camera axes of ``c2w`` (OpenCV ``[3, 3]``)."""
    unit = torch.nn.functional.normalize(normal, dim=-1, eps=1e-12)
    camera = (unit @ c2w) * _OPENCV_TO_OPENGL  # R^T n for each pixel, then y and z flipped
    return ((camera * 0.5 + 0.5) * alpha).clamp(0, 1)
