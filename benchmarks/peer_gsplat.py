"""Peer splat renderer for the benchmarks: gsplat's own pure-torch reference pipeline, on CPU.

Stages (gsplat 1.5.3, ``gsplat.cuda._torch_impl``, the module its tests check the CUDA kernels against):

1. projection: ``_quat_scale_to_covar_preci`` + ``_fully_fused_projection`` (EWA, Jacobian clamped to 1.3x
   the view, the 0.3 px^2 low-pass ``eps2d`` added to every 2D covariance, 3.33-sigma screen boxes);
2. colour: ``_spherical_harmonics`` of the camera-to-mean direction, ``+ 0.5`` and clamped at 0, as
   ``gsplat.rasterization`` does for SH coefficients;
3. tile binning: ``_isect_tiles`` (16 px tiles, 64-bit keys ``image | tile | depth bits``, sorted) and
   ``_isect_offset_encode`` (start of every tile's list). The keys are sorted with a *stable* sort, as
   gsplat's CUDA radix sort is (``_isect_tiles``' own ``torch.sort`` is not): Gaussians at exactly the same
   float32 depth (a few per thousand in these scenes) then composite in index order, as in gsplat's CUDA
   path and in lift3d's renderer; with an unstable sort such a tie flips the order and moves a pixel
   by up to ~1e-4;
4. compositing: gsplat's ``_rasterize_to_pixels`` calls ``rasterize_to_indices_in_range``, a CUDA kernel,
   so :func:`composite_tiles` is an equivalent written from the CUDA forward kernel's definition
   (``csrc/RasterizeToPixels3DGSFwd.cu``): every tile walks its depth-sorted list front to back; per pixel
   (centre ``+0.5``) ``sigma = a dx^2 / 2 + b dx dy + c dy^2 / 2``, ``alpha = min(0.999, o exp(-sigma))``
   (gsplat's clamp is 0.999, not 0.99), a Gaussian with ``sigma < 0`` or ``alpha < 1/255`` is skipped, and
   the pixel stops before the Gaussian whose ``next_T = T (1 - alpha)`` would be ``<= 1e-4`` (exclusive);
   ``out = sum_i alpha_i T_i f_i``, ``alpha_img = 1 - T_final``. Each tile is one autograd-checkpointed
   ``[256 pixels, list length]`` computation (plain autograd, recomputed in backward), so memory stays
   bounded; this is the straightforward torch rendition, not a tuned one.

The peer renders the same seven channels as lift3d's renderer (rgb, camera depth, camera-facing normal of
the shortest axis), so both sides composite the same amount of data. Cameras: lift3d's ``viewmats()``
(world-to-camera, OpenCV axes) and ``K`` are exactly gsplat's ``viewmats``/``Ks`` convention.
"""

from __future__ import annotations

import math
import time

import torch
from gsplat.cuda._torch_impl import (
    _fully_fused_projection,
    _isect_offset_encode,
    _isect_tiles,
    _quat_scale_to_covar_preci,
    _quat_to_rotmat,
    _spherical_harmonics,
)
from torch.utils.checkpoint import checkpoint

ALPHA_MAX = 0.999  # gsplat: min(0.999f, opac * __expf(-sigma))
ALPHA_MIN = 1.0 / 255.0  # gsplat: ALPHA_THRESHOLD
T_MIN = 1e-4  # gsplat: if (next_T <= 1e-4f) done (exclusive)


def _tile_composite(pix, means2d, conics, opac, feats):
    """``[P, 2]`` pixel centres of one tile against its depth-sorted list; ``[P, F + 1]`` (features, T)."""
    d = pix[:, None, :] - means2d[None]  # [P, n, 2]
    sigma = 0.5 * (conics[:, 0] * d[..., 0] ** 2 + conics[:, 2] * d[..., 1] ** 2) + conics[:, 1] * d[..., 0] * d[..., 1]
    alpha = torch.clamp_max(opac * torch.exp(-sigma), ALPHA_MAX)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
    with torch.no_grad():  # the stopping rule: keep Gaussians while the running next_T stays above 1e-4
        live = torch.cumprod(1 - alpha, dim=-1) > T_MIN
    alpha = alpha * live
    T_incl = torch.cumprod(1 - alpha, dim=-1)
    T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=-1)
    return torch.cat([(alpha * T_excl) @ feats, T_incl[:, -1:]], dim=-1)


def composite_tiles(means2d, conics, opacities, features, width, height, tile_size, isect_offsets, flatten_ids):
    """Front-to-back compositing of one image, tile by tile (gsplat's CUDA forward, see the module doc).

    ``means2d [N, 2]``, ``conics [N, 3]``, ``opacities [N]``, ``features [N, F]``; ``isect_offsets
    [tiles_y, tiles_x]`` and ``flatten_ids [M]`` from ``_isect_offset_encode``/``_isect_tiles`` (image 0).
    Returns ``(features [H, W, F], alpha [H, W, 1])``.
    """
    F = features.shape[-1]
    ty, tx = isect_offsets.shape
    offsets = torch.cat([isect_offsets.flatten().long(), torch.tensor([flatten_ids.numel()])]).tolist()
    yy, xx = torch.meshgrid(torch.arange(tile_size), torch.arange(tile_size), indexing="ij")
    local = torch.stack([xx, yy], -1).reshape(-1, 2).to(means2d.dtype) + 0.5
    rows = []
    for j in range(ty):
        row = []
        for i in range(tx):
            t = j * tx + i
            ids = flatten_ids[offsets[t] : offsets[t + 1]].long()
            pix = local + torch.tensor([i * tile_size, j * tile_size], dtype=means2d.dtype)
            if ids.numel() == 0:
                out = torch.cat([features.new_zeros(pix.shape[0], F), features.new_ones(pix.shape[0], 1)], -1)
            else:
                out = checkpoint(
                    _tile_composite, pix, means2d[ids], conics[ids], opacities[ids], features[ids], use_reentrant=False
                )
            row.append(out.reshape(tile_size, tile_size, F + 1))
        rows.append(torch.cat(row, dim=1))
    img = torch.cat(rows, dim=0)[:height, :width]
    return img[..., :F], 1.0 - img[..., F:]


def render_peer(scene, cameras, background=(1.0, 1.0, 1.0), eps2d=0.3, near_plane=0.01, far_plane=1e10,
                tile_size=16, timings: dict | None = None):
    """gsplat's torch reference pipeline on ``scene`` (lift3d ``Gaussians``) and ``cameras`` (lift3d ``Cameras``).

    Returns ``rgb [C, H, W, 3]`` over ``background`` (as lift3d's renderer), ``alpha [C, H, W, 1]`` and the
    seven-channel feature image ``[C, H, W, 7]``. ``timings`` (a dict) receives seconds per stage.
    """
    timings = {} if timings is None else timings
    clock = time.perf_counter
    t0 = clock()
    means, quats, scales, opac = scene.means, scene.quats, scene.scales, scene.opacities
    cams = cameras.to(means.device, means.dtype)
    H, W, C = cams.height, cams.width, len(cams)
    viewmats, Ks, campos = cams.viewmats(), cams.K, cams.positions
    covars, _ = _quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        means, covars, viewmats, Ks, W, H, eps2d, near_plane, far_plane
    )
    t1 = clock()
    degree = scene.active_sh_degree
    K = (degree + 1) ** 2
    dirs = means[None] - campos[:, None, :]  # [C, N, 3]
    rgb = torch.clamp_min(_spherical_harmonics(degree, dirs, scene.sh[None, :, :K].expand(C, -1, -1, -1)) + 0.5, 0.0)
    R = _quat_to_rotmat(quats)
    axis = scales.detach().argmin(-1)
    n = torch.gather(R, 2, axis[:, None, None].expand(-1, 3, 1)).squeeze(-1)
    facing = ((campos[:, None, :] - means[None].detach()) * n[None].detach()).sum(-1, keepdim=True)
    normal = torch.where(facing < 0, -n[None], n[None])
    feats = torch.cat([rgb, depths[..., None], normal], dim=-1)  # [C, N, 7]
    t2 = clock()
    tw, th = math.ceil(W / tile_size), math.ceil(H / tile_size)
    _, isect_ids, flatten_ids = _isect_tiles(means2d, radii, depths, tile_size, tw, th, sort=False)
    isect_ids, order = torch.sort(isect_ids, stable=True)  # gsplat's CUDA radix sort is stable: ties by id
    flatten_ids = flatten_ids[order]
    offsets = _isect_offset_encode(isect_ids, C, tw, th)  # [C, th, tw]
    t3 = clock()
    N = means.shape[0]
    imgs, alphas = [], []
    for c in range(C):
        lo = c * N  # flatten_ids are c * N + n
        in_c = (flatten_ids >= lo) & (flatten_ids < lo + N)
        base = int(in_c.nonzero()[0]) if bool(in_c.any()) else 0
        ids = flatten_ids[in_c] - lo
        img, alpha = composite_tiles(
            means2d[c], conics[c], opac, feats[c], W, H, tile_size, offsets[c] - base, ids
        )
        imgs.append(img)
        alphas.append(alpha)
    img, alpha = torch.stack(imgs), torch.stack(alphas)
    t4 = clock()
    timings.update(project=t1 - t0, features=t2 - t1, isect=t3 - t2, composite=t4 - t3)
    bg = torch.as_tensor(background, dtype=img.dtype).reshape(-1, 3)[:, None, None, :]
    return img[..., :3] + (1.0 - alpha) * bg, alpha, img
