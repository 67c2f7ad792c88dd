"""Dense reference splat renderer: the test oracle and benchmark baseline of the tile rasterizer.

Projection, covariance and SH come from gsplat's pure-torch reference module (pinned gsplat==1.5.3,
so its private names are stable); compositing is every pixel against every visible Gaussian,
depth sorted, with gsplat's per-pixel rules (alpha clamp 0.999, skip alpha < 1/255, stop before
transmittance reaches 1e-4). Plain autograd; pixel chunks are checkpointed so memory stays bounded.
Deliberately simple and slow: use :class:`lift3d.renderers.GaussianRenderer` for real work.
"""

from __future__ import annotations

import torch
from gsplat.cuda._torch_impl import (
    _fully_fused_projection,
    _quat_scale_to_covar_preci,
    _quat_to_rotmat,
    _spherical_harmonics,
)
from torch.utils.checkpoint import checkpoint

from lift3d.cameras import Cameras
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import RenderOutput


def _composite(pix: torch.Tensor, means2d, conics, opac, feats) -> torch.Tensor:
    """``[P, 2]`` pixel centres against depth-sorted Gaussians; returns ``[P, F + 1]`` (features, T)."""
    d = means2d[None, :, :] - pix[:, None, :]  # [P, n, 2]
    sigma = 0.5 * (conics[:, 0] * d[..., 0] ** 2 + conics[:, 2] * d[..., 1] ** 2) + conics[:, 1] * d[..., 0] * d[..., 1]
    alpha = torch.clamp_max(opac * torch.exp(-sigma), 0.999)
    alpha = torch.where((sigma >= 0) & (alpha >= 1.0 / 255.0), alpha, torch.zeros_like(alpha))
    T_incl = torch.cumprod(1 - alpha, dim=-1)
    live = (T_incl > 1e-4).detach()
    alpha = alpha * live
    T_incl = torch.cumprod(1 - alpha, dim=-1)
    T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=-1)
    out = (alpha * T_excl) @ feats
    return torch.cat([out, T_incl[:, -1:] if T_incl.shape[1] else torch.ones_like(out[:, :1])], dim=-1)


def render_dense_reference(
    scene: Gaussians,
    cameras: Cameras,
    background: torch.Tensor | tuple[float, float, float] = (1.0, 1.0, 1.0),
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    antialiased: bool = False,
    pixel_chunk: int = 4096,
    rows: tuple[int, int] | None = None,
) -> RenderOutput:
    """Render like :class:`~lift3d.renderers.GaussianRenderer` (torch backend), densely.

    ``rows=(r0, r1)`` renders only image rows ``r0 <= y < r1`` of the full cameras (same projection and
    culling), returning ``[B, r1 - r0, W, ...]``: the cost is linear in the number of pixels, so a
    benchmark can time a band and extrapolate.
    """
    means, quats, scales, opac = scene.means, scene.quats, scene.scales, scene.opacities
    cams = cameras.to(means.device, means.dtype)
    H, W = cams.height, cams.width
    viewmats, campos = cams.viewmats(), cams.positions
    covars, _ = _quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    radii, means2d, depths, conics, comp = _fully_fused_projection(
        means, covars, viewmats, cams.K, W, H, eps2d, near_plane, far_plane, calc_compensations=antialiased
    )
    R = _quat_to_rotmat(quats)
    axis = scales.detach().argmin(-1)
    normal = torch.gather(R, 2, axis[:, None, None].expand(-1, 3, 1)).squeeze(-1)
    bg = torch.as_tensor(background, dtype=means.dtype).reshape(-1, 3).expand(len(cams), 3)
    r0, r1 = rows if rows is not None else (0, H)
    j, i = torch.meshgrid(torch.arange(r0, r1, dtype=means.dtype), torch.arange(W, dtype=means.dtype), indexing="ij")
    pix = torch.stack([i, j], -1).reshape(-1, 2) + 0.5
    images = []
    for c in range(len(cams)):
        keep = (radii[c] > 0).all(-1).nonzero().squeeze(1)
        keep = keep[torch.argsort(depths[c, keep])]
        dirs = means[keep] - campos[c]
        rgb = torch.clamp_min(_spherical_harmonics(scene.active_sh_degree, dirs, scene.sh[keep]) + 0.5, 0.0)
        n = normal[keep]
        n = torch.where(((campos[c] - means[keep]) * n).sum(-1, keepdim=True).detach() < 0, -n, n)
        feats = torch.cat([rgb, depths[c, keep, None], n], dim=-1)
        o = opac[keep] * (comp[c, keep] if comp is not None else 1.0)
        chunks = [
            checkpoint(
                _composite, pix[s : s + pixel_chunk], means2d[c, keep], conics[c, keep], o, feats, use_reentrant=False
            )
            for s in range(0, pix.shape[0], pixel_chunk)
        ]
        images.append(torch.cat(chunks).reshape(r1 - r0, W, -1))
    img = torch.stack(images)
    alpha = 1.0 - img[..., -1:]
    return RenderOutput(
        rgb=img[..., :3] + (1 - alpha) * bg[:, None, None, :],
        alpha=alpha,
        depth=img[..., 3:4] / alpha.clamp_min(1e-10),
        normal=img[..., 4:7],
        aux={"radii": radii, "means2d": means2d},
    )
