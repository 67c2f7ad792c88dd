"""Cameras: THE one place where lift3d's conventions live.

Conventions (pinned by ``tests/test_cameras.py``):

* World: right-handed, +Z up. A camera at azimuth ``a``, elevation ``e`` and distance ``d`` sits at
  ``d * (cos e cos a, cos e sin a, sin e)``: azimuth 0 looks from +X toward the origin, azimuth
  increases from +X toward +Y, elevation is measured from the XY plane. Objects face +X ("front").
* Camera axes are OpenCV's: x right, y down, z forward. ``c2w`` maps camera to world coordinates;
  gsplat takes its inverse (``viewmats``).
* Intrinsics ``K`` are in pixels with pixel centres at ``(i + 0.5, j + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def look_at(eye: torch.Tensor, target: torch.Tensor | None = None, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices (OpenCV axes) for cameras at ``eye`` looking at ``target``.

    Args:
        eye: ``[..., 3]`` camera centres.
        target: ``[..., 3]`` points looked at (default: the origin).
        up: ``[3]`` or ``[..., 3]`` world up (default +Z). Where the view direction is parallel to
            ``up`` (straight down or up), +X is used as the up hint instead.

    Returns:
        ``[..., 4, 4]`` camera-to-world matrices.
    """
    if target is None:
        target = torch.zeros_like(eye)
    if up is None:
        up = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype, device=eye.device)
    up = up.expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.linalg.cross(forward, up)
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    if degenerate.any():
        alt = torch.tensor([1.0, 0.0, 0.0], dtype=eye.dtype, device=eye.device).expand_as(eye)
        right = torch.where(degenerate, torch.linalg.cross(forward, alt), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.linalg.cross(forward, right)
    c2w = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[..., :3, 0] = right
    c2w[..., :3, 1] = down
    c2w[..., :3, 2] = forward
    c2w[..., :3, 3] = eye
    c2w[..., 3, 3] = 1.0
    return c2w


def spherical_to_position(elevation_deg: torch.Tensor, azimuth_deg: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
    """``[...]`` elevation, azimuth (degrees) and distance to ``[..., 3]`` world positions."""
    e = torch.deg2rad(elevation_deg)
    a = torch.deg2rad(azimuth_deg)
    return torch.stack([distance * e.cos() * a.cos(), distance * e.cos() * a.sin(), distance * e.sin()], dim=-1)


def position_to_spherical(position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of :func:`spherical_to_position`; azimuth in [0, 360), elevation in [-90, 90]."""
    distance = position.norm(dim=-1)
    elevation = torch.rad2deg(torch.asin((position[..., 2] / distance.clamp_min(1e-12)).clamp(-1, 1)))
    azimuth = torch.rad2deg(torch.atan2(position[..., 1], position[..., 0])) % 360.0
    return elevation, azimuth, distance


def intrinsics_from_fov(fov_y_deg: torch.Tensor | float, width: int, height: int) -> torch.Tensor:
    """Pinhole ``K`` with vertical field of view ``fov_y_deg``, square pixels, centred principal point.

    Returns ``[..., 3, 3]`` (``[3, 3]`` for a float).
    """
    fov = torch.as_tensor(fov_y_deg, dtype=torch.float32)
    focal = 0.5 * height / torch.tan(torch.deg2rad(fov) / 2)
    K = torch.zeros(*fov.shape, 3, 3)
    K[..., 0, 0] = focal
    K[..., 1, 1] = focal
    K[..., 0, 2] = width / 2
    K[..., 1, 2] = height / 2
    K[..., 2, 2] = 1.0
    return K


@dataclass
class Cameras:
    """A batch of B pinhole cameras sharing one image size.

    Attributes:
        c2w: ``[B, 4, 4]`` camera-to-world (OpenCV axes).
        K: ``[B, 3, 3]`` intrinsics in pixels.
        width: image width in pixels.
        height: image height in pixels.
    """

    c2w: torch.Tensor
    K: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.c2w.ndim != 3 or self.c2w.shape[-2:] != (4, 4):
            raise ValueError(f"c2w must be [B, 4, 4], got {tuple(self.c2w.shape)}")
        if self.K.ndim != 3 or self.K.shape[-2:] != (3, 3) or self.K.shape[0] != self.c2w.shape[0]:
            raise ValueError(f"K must be [B, 3, 3] with B={self.c2w.shape[0]}, got {tuple(self.K.shape)}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (torch.isfinite(self.c2w).all() and torch.isfinite(self.K).all()):
            raise ValueError("camera matrices contain NaN or Inf")

    @classmethod
    def from_spherical(
        cls,
        elevation_deg: torch.Tensor,
        azimuth_deg: torch.Tensor,
        distance: torch.Tensor,
        fov_y_deg: torch.Tensor | float,
        width: int,
        height: int | None = None,
        target: torch.Tensor | None = None,
    ) -> Cameras:
        """Orbit cameras looking at ``target`` (default origin) from spherical coordinates ``[B]``."""
        height = width if height is None else height
        elevation_deg, azimuth_deg, distance = torch.broadcast_tensors(
            torch.as_tensor(elevation_deg, dtype=torch.float32),
            torch.as_tensor(azimuth_deg, dtype=torch.float32),
            torch.as_tensor(distance, dtype=torch.float32),
        )
        eye = spherical_to_position(elevation_deg.reshape(-1), azimuth_deg.reshape(-1), distance.reshape(-1))
        if target is not None:
            eye = eye + target
        c2w = look_at(eye, None if target is None else target.expand_as(eye))
        fov = torch.as_tensor(fov_y_deg, dtype=torch.float32).expand(eye.shape[0])
        return cls(c2w=c2w, K=intrinsics_from_fov(fov, width, height), width=width, height=height)

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor) -> Cameras:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Cameras(self.c2w[index], self.K[index], self.width, self.height)

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Cameras:
        return Cameras(self.c2w.to(device, dtype), self.K.to(device, dtype), self.width, self.height)

    @staticmethod
    def cat(cameras: list[Cameras]) -> Cameras:
        sizes = {(c.width, c.height) for c in cameras}
        if len(sizes) != 1:
            raise ValueError(f"cannot concatenate cameras of different image sizes: {sorted(sizes)}")
        w, h = sizes.pop()
        return Cameras(torch.cat([c.c2w for c in cameras]), torch.cat([c.K for c in cameras]), w, h)

    @property
    def positions(self) -> torch.Tensor:
        """``[B, 3]`` camera centres in world space."""
        return self.c2w[:, :3, 3]

    def spherical(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(elevation deg, azimuth deg, distance) of each camera centre, each ``[B]``."""
        return position_to_spherical(self.positions)

    @property
    def fov_y_deg(self) -> torch.Tensor:
        """``[B]`` vertical field of view in degrees."""
        return torch.rad2deg(2 * torch.atan(0.5 * self.height / self.K[:, 1, 1]))

    def viewmats(self) -> torch.Tensor:
        """``[B, 4, 4]`` world-to-camera matrices (gsplat's ``viewmats``)."""
        R = self.c2w[:, :3, :3]
        t = self.c2w[:, :3, 3:]
        w2c = torch.zeros_like(self.c2w)
        w2c[:, :3, :3] = R.transpose(1, 2)
        w2c[:, :3, 3:] = -R.transpose(1, 2) @ t
        w2c[:, 3, 3] = 1.0
        return w2c

    @classmethod
    def from_viewmats(cls, viewmats: torch.Tensor, K: torch.Tensor, width: int, height: int) -> Cameras:
        """Build cameras from gsplat's world-to-camera matrices."""
        return cls(torch.linalg.inv(viewmats), K, width, height)

    def resized(self, width: int, height: int | None = None) -> Cameras:
        """The same cameras rendering at another resolution (intrinsics scaled)."""
        height = width if height is None else height
        K = self.K.clone()
        K[:, 0] *= width / self.width
        K[:, 1] *= height / self.height
        return Cameras(self.c2w, K, width, height)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points ``[B, N, 3]`` (or ``[N, 3]``) to pixels.

        Returns:
            ``([B, N, 2] pixel coordinates (x right, y down), [B, N] camera-space depth z)``.
        """
        if points.ndim == 2:
            points = points.expand(len(self), -1, -1)
        w2c = self.viewmats()
        cam = points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
        z = cam[..., 2]
        uv = cam @ self.K.transpose(1, 2)
        return uv[..., :2] / z.unsqueeze(-1), z

    def rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Rays through pixel centres.

        Returns:
            ``(origins [B, H, W, 3], directions [B, H, W, 3])``; directions are unit length in world
            space. (``directions . camera_forward`` converts ray distance to z-depth.)
        """
        dev, dt = self.c2w.device, self.c2w.dtype
        j, i = torch.meshgrid(
            torch.arange(self.height, device=dev, dtype=dt) + 0.5,
            torch.arange(self.width, device=dev, dtype=dt) + 0.5,
            indexing="ij",
        )
        fx, fy = self.K[:, 0, 0, None, None], self.K[:, 1, 1, None, None]
        cx, cy = self.K[:, 0, 2, None, None], self.K[:, 1, 2, None, None]
        d_cam = torch.stack([(i - cx) / fx, (j - cy) / fy, torch.ones_like(i).expand_as(fx * i)], dim=-1)
        d_world = torch.einsum("bij,bhwj->bhwi", self.c2w[:, :3, :3], d_cam)
        d_world = torch.nn.functional.normalize(d_world, dim=-1)
        origins = self.c2w[:, None, None, :3, 3].expand_as(d_world)
        return origins, d_world
