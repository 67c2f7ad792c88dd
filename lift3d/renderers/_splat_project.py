"""EWA projection of 3D Gaussians to screen-space ellipses (the torch backend's first stage).

"EWA Volume Splatting" (Zwicker et al., 2001) as used by 3D Gaussian Splatting (arXiv 2308.04079), with
gsplat's conventions so both backends draw the same image: the Jacobian is evaluated at the mean
clamped to 1.3x the field of view, a 0.3 px^2 low-pass is added to the 2D covariance (optionally with
the opacity compensation of "Mip-Splatting", arXiv 2311.16493, for ``antialiased``), and the screen
bounding box is opacity aware ("StopThePop", arXiv 2402.00525, appendix B.2): no pixel outside it can
reach alpha >= 1/255. Written in torch (differentiable by autograd) because gsplat's projection
kernels need CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ALPHA_MIN = 1.0 / 255.0
"""Alphas below this are skipped (gsplat's ALPHA_THRESHOLD)."""


@dataclass
class Projected:
    """Per camera-Gaussian pair screen-space quantities, each ``[C, N, ...]``.

    Attributes:
        means2d: ``[C, N, 2]`` pixel coordinates of the centres.
        conics: ``[C, N, 3]`` inverse 2D covariance ``(a, b, c)``: sigma = a dx^2 / 2 + b dx dy + c dy^2 / 2.
        opacities: ``[C, N]`` opacity (times the antialiasing compensation when enabled).
        depths: ``[C, N]`` camera-space z.
        radii: ``[C, N, 2]`` int32 half-extent of the screen bounding box in pixels; 0 = culled.
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    opacities: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` unit quaternions ``(w, x, y, z)`` to ``[..., 3, 3]`` rotation matrices."""
    w, x, y, z = quats.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def project_gaussians(
    means: torch.Tensor,
    rotmats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    viewmats: torch.Tensor,
    Ks: torch.Tensor,
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    antialiased: bool = False,
) -> Projected:
    """Project N Gaussians into C pinhole cameras.

    Args:
        means: ``[N, 3]`` world centres.
        rotmats: ``[N, 3, 3]`` rotations (columns are the Gaussian's axes).
        scales: ``[N, 3]`` standard deviations along those axes.
        opacities: ``[N]`` opacities in [0, 1].
        viewmats: ``[C, 4, 4]`` world-to-camera (OpenCV axes).
        Ks: ``[C, 3, 3]`` intrinsics in pixels.
        width, height: image size.
        eps2d: low-pass variance added to the 2D covariance (pixels^2).
        near_plane, far_plane: z range kept; Gaussians outside (e.g. behind the camera) are culled.
        antialiased: scale opacity by sqrt(det(cov2d) / det(cov2d + eps2d I)) (Mip-Splatting).

    Returns:
        :class:`Projected`; culled pairs have zero radii and finite (meaningless) other values.
    """
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    mc = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C, N, 3]
    M = rotmats * scales[:, None, :]  # [N, 3, 3]
    RM = torch.einsum("cij,njk->cnik", R, M)  # [C, N, 3, 3]
    cov_c = RM @ RM.transpose(-1, -2)

    z = mc[..., 2]
    in_z = (z > near_plane) & (z < far_plane)
    zs = torch.where(in_z, z, torch.ones_like(z))  # keeps culled pairs finite (and their gradients 0)
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy  # clamp the Jacobian's point to 1.3x the view
    u = torch.minimum(torch.maximum(mc[..., 0] / zs, -cx / fx - 0.3 * tan_x), (width - cx) / fx + 0.3 * tan_x)
    v = torch.minimum(torch.maximum(mc[..., 1] / zs, -cy / fy - 0.3 * tan_y), (height - cy) / fy + 0.3 * tan_y)
    tx, ty = zs * u, zs * v
    zero = torch.zeros_like(zs)
    J = torch.stack([fx / zs, zero, -fx * tx / zs**2, zero, fy / zs, -fy * ty / zs**2], -1).reshape(*zs.shape, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)  # [C, N, 2, 2]

    a, b, c = cov2d[..., 0, 0], 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0]), cov2d[..., 1, 1]
    det_orig = a * c - b * b
    a, c = a + eps2d, c + eps2d
    det = (a * c - b * b).clamp_min(1e-10)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    opac = opacities.expand_as(z)
    if antialiased:
        opac = opac * (det_orig / det).clamp_min(0.0).sqrt()
    means2d = torch.stack([fx * mc[..., 0] / zs + cx, fy * mc[..., 1] / zs + cy], dim=-1)

    with torch.no_grad():
        visible = in_z & (opac >= ALPHA_MIN)
        extend = torch.sqrt(2.0 * torch.log(opac.clamp_min(ALPHA_MIN) / ALPHA_MIN)).clamp_max(3.33)
        rx = torch.ceil(extend * a.clamp_min(0).sqrt())
        ry = torch.ceil(extend * c.clamp_min(0).sqrt())
        visible &= (rx > 0) | (ry > 0)
        mx, my = means2d[..., 0], means2d[..., 1]
        visible &= (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        radii = torch.stack([rx, ry], dim=-1).where(visible[..., None], 0.0).int()
    return Projected(means2d, conics, opac, z, radii)
