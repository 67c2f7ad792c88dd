"""Real spherical harmonics of degree 0..3 for view-dependent splat colour.

Basis and sign convention of the reference 3DGS code ("3D Gaussian Splatting for Real-Time Radiance
Field Rendering", arXiv 2308.04079) and gsplat, so coefficients in 3DGS .ply files mean the same
thing here. Torch code because gsplat's SH kernel needs CUDA.
"""

from __future__ import annotations

import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """``[..., (degree+1)^2]`` SH basis values at unit directions ``dirs [..., 3]``."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree >= 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            C2[0] * x * y,
            C2[1] * y * z,
            C2[2] * (2 * zz - xx - yy),
            C2[3] * x * z,
            C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * x * y * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_rgb(degree: int, means: torch.Tensor, campos: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """View-dependent colours ``max(SH(dir) + 0.5, 0)`` of N Gaussians seen from C cameras.

    Args:
        degree: SH degree to evaluate (only the first ``(degree+1)^2`` coefficients are used).
        means: ``[N, 3]`` Gaussian centres.
        campos: ``[C, 3]`` camera centres.
        coeffs: ``[N, K, 3]`` SH coefficients, ``K >= (degree+1)^2``.

    Returns:
        ``[C, N, 3]`` colours.
    """
    k = (degree + 1) ** 2
    if degree == 0:
        rgb = C0 * coeffs[:, 0, :]
        return (rgb + 0.5).clamp_min(0.0).expand(campos.shape[0], -1, -1)
    dirs = torch.nn.functional.normalize(means[None, :, :] - campos[:, None, :], dim=-1)  # [C, N, 3]
    basis = sh_basis(degree, dirs)  # [C, N, k]
    rgb = torch.einsum("cnk,nkj->cnj", basis, coeffs[:, :k, :])
    return (rgb + 0.5).clamp_min(0.0)
