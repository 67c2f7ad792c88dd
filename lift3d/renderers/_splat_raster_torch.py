"""Tile-binned front-to-back splat compositing on CPU (the torch backend's second stage).

The same algorithm as gsplat's CUDA rasterizer ("3D Gaussian Splatting", arXiv 2308.04079, section 6),
written with whole-tile tensor operations because gsplat's kernels need CUDA: Gaussians are binned
into 16x16 pixel tiles by their screen bounding boxes, each tile's list is depth sorted, and a tile
chunk is composited as one ``[tiles, pixels, depth-slots]`` tensor. Per pixel, as in gsplat:
``alpha = min(0.999, o exp(-sigma))``, alphas below 1/255 (or with sigma < 0) are skipped, and a pixel
stops before the Gaussian that would drop its transmittance to 1e-4 or below.

Autograd through the binning would keep every chunk's tensors alive, so :class:`RasterizeTiles`
saves only the per-Gaussian inputs, recomputes each chunk in backward and applies the analytic
gradient of front-to-back compositing (suffix sums over the depth slots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lift3d.renderers._splat_project import ALPHA_MIN

ALPHA_MAX = 0.999
T_MIN = 1e-4


@dataclass
class TileBins:
    """Tile lists for C images: entries are flat camera-Gaussian ids ``c * N + n``.

    Attributes:
        flat_ids: ``[M]`` ids, grouped by tile (camera-major) and depth-sorted inside each tile.
        offsets: ``[C * tiles]`` start of each tile's list in ``flat_ids``.
        counts: ``[C * tiles]`` length of each tile's list.
        chunks: groups of non-empty tile ids, each with its padded list length.
    """

    flat_ids: torch.Tensor
    offsets: torch.Tensor
    counts: torch.Tensor
    chunks: list[tuple[torch.Tensor, int]]
    n_images: int
    tiles_x: int
    tiles_y: int
    tile_size: int
    width: int
    height: int


@torch.no_grad()
def bin_tiles(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = 16,
    chunk_elements: int = 1 << 22,
) -> TileBins:
    """Bin projected Gaussians ``[C, N, ...]`` into depth-sorted per-tile lists.

    ``chunk_elements`` bounds ``tiles x pixels x slots`` per compositing chunk (memory vs. speed).
    """
    C, N = depths.shape
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    n_tiles = tiles_x * tiles_y
    dev = means2d.device
    ids = (radii > 0).any(-1).flatten().nonzero().squeeze(1)
    ids = ids[torch.argsort(depths.flatten()[ids], stable=True)]
    ids = ids[torch.argsort(ids // N, stable=True)]  # camera-major, depth-sorted within a camera
    m = means2d.detach().reshape(-1, 2)[ids]
    r = radii.reshape(-1, 2)[ids].to(m.dtype)
    x0 = torch.floor((m[:, 0] - r[:, 0]) / tile_size).clamp(0, tiles_x).long()
    x1 = torch.ceil((m[:, 0] + r[:, 0]) / tile_size).clamp(0, tiles_x).long()
    y0 = torch.floor((m[:, 1] - r[:, 1]) / tile_size).clamp(0, tiles_y).long()
    y1 = torch.ceil((m[:, 1] + r[:, 1]) / tile_size).clamp(0, tiles_y).long()
    w = x1 - x0
    cnt = w * (y1 - y0)
    entry = torch.repeat_interleave(torch.arange(len(ids), device=dev), cnt)
    k = torch.arange(len(entry), device=dev) - (torch.cumsum(cnt, 0) - cnt)[entry]
    tile = (ids[entry] // N) * n_tiles + (y0[entry] + k // w[entry]) * tiles_x + x0[entry] + k % w[entry]
    order = torch.argsort(tile, stable=True)
    flat_ids = ids[entry[order]]
    counts = torch.bincount(tile, minlength=C * n_tiles)
    offsets = torch.cumsum(counts, 0) - counts

    nonempty = counts.nonzero().squeeze(1)
    nonempty = nonempty[torch.argsort(counts[nonempty], descending=True)]
    per_tile = tile_size * tile_size
    chunks, i, sizes = [], 0, counts[nonempty].tolist()
    while i < len(sizes):
        L = sizes[i]
        k_tiles = max(1, chunk_elements // (per_tile * L))
        chunks.append((nonempty[i : i + k_tiles], L))
        i += k_tiles
    return TileBins(flat_ids, offsets, counts, chunks, C, tiles_x, tiles_y, tile_size, width, height)


def _chunk(bins: TileBins, tiles: torch.Tensor, L: int, means2d, conics, opacities):
    """Per-(tile, pixel, slot) compositing quantities of one chunk, all ``[k, P, L]`` unless noted."""
    ts = bins.tile_size
    dev, dt = means2d.device, means2d.dtype
    slots = torch.arange(L, device=dev)
    valid = slots[None, :] < bins.counts[tiles, None]
    g = bins.flat_ids[(bins.offsets[tiles, None] + slots).clamp_max(len(bins.flat_ids) - 1)]  # [k, L]
    local = tiles % (bins.tiles_x * bins.tiles_y)
    p = torch.arange(ts * ts, device=dev)
    px = ((local % bins.tiles_x)[:, None] * ts + p % ts).to(dt) + 0.5  # [k, P]
    py = ((local // bins.tiles_x)[:, None] * ts + p // ts).to(dt) + 0.5
    mx, my = means2d[g].unbind(-1)
    ca, cb, cc = (v[:, None, :] for v in conics[g].unbind(-1))
    dx = mx[:, None, :] - px[:, :, None]
    dy = my[:, None, :] - py[:, :, None]
    sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
    vis = torch.exp(-sigma)
    alpha_raw = (opacities[g] * valid)[:, None, :] * vis
    alpha = torch.where((sigma >= 0) & (alpha_raw >= ALPHA_MIN), alpha_raw.clamp_max(ALPHA_MAX), 0.0)
    T_incl = torch.cumprod(1.0 - alpha, dim=-1)
    live = T_incl > T_MIN
    T_excl = T_incl / (1.0 - alpha)
    w = torch.where(live, alpha * T_excl, 0.0)
    T_final = torch.where(live, T_incl, 1.0).amin(-1)  # [k, P]
    return g, dx, dy, (ca, cb, cc), vis, alpha_raw, alpha, T_excl, live, w, T_final


def _to_tiles(img: torch.Tensor, bins: TileBins) -> torch.Tensor:
    """``[C, H, W, F]`` image to ``[C * tiles, P, F]`` (zero padded to whole tiles)."""
    ts, C, F = bins.tile_size, img.shape[0], img.shape[-1]
    pad = torch.zeros(C, bins.tiles_y * ts, bins.tiles_x * ts, F, dtype=img.dtype, device=img.device)
    pad[:, : bins.height, : bins.width] = img
    pad = pad.reshape(C, bins.tiles_y, ts, bins.tiles_x, ts, F).permute(0, 1, 3, 2, 4, 5)
    return pad.reshape(C * bins.tiles_y * bins.tiles_x, ts * ts, F)


def _from_tiles(tiles: torch.Tensor, bins: TileBins) -> torch.Tensor:
    """Inverse of :func:`_to_tiles` (cropped to the image)."""
    ts, F = bins.tile_size, tiles.shape[-1]
    img = tiles.reshape(bins.n_images, bins.tiles_y, bins.tiles_x, ts, ts, F).permute(0, 1, 3, 2, 4, 5)
    img = img.reshape(bins.n_images, bins.tiles_y * ts, bins.tiles_x * ts, F)
    return img[:, : bins.height, : bins.width].contiguous()


class RasterizeTiles(torch.autograd.Function):
    """Composite projected Gaussians into images; differentiable in all four tensor inputs.

    Inputs are flattened camera-Gaussian pairs: ``means2d [C*N, 2]``, ``conics [C*N, 3]``,
    ``opacities [C*N]``, ``features [C*N, F]``. Outputs: ``features [C, H, W, F]`` (alpha-weighted
    sums, no background) and ``alpha [C, H, W, 1]``.
    """

    @staticmethod
    def forward(ctx, means2d, conics, opacities, features, bins: TileBins):
        n_tiles_all = bins.n_images * bins.tiles_x * bins.tiles_y
        P = bins.tile_size**2
        out = torch.zeros(n_tiles_all, P, features.shape[-1] + 1, dtype=features.dtype, device=features.device)
        out[..., -1] = 1.0
        for tiles, L in bins.chunks:
            g, *_, w, T_final = _chunk(bins, tiles, L, means2d, conics, opacities)
            out[tiles, :, :-1] = torch.bmm(w, features[g])
            out[tiles, :, -1] = T_final
        ctx.bins = bins
        ctx.save_for_backward(means2d, conics, opacities, features)
        img = _from_tiles(out, bins)
        return img[..., :-1], 1.0 - img[..., -1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_features, grad_alpha):
        bins: TileBins = ctx.bins
        means2d, conics, opacities, features = ctx.saved_tensors
        grads = _to_tiles(torch.cat([grad_features, grad_alpha], dim=-1), bins)
        g_m, g_c = torch.zeros_like(means2d), torch.zeros_like(conics)
        g_o, g_f = torch.zeros_like(opacities), torch.zeros_like(features)
        for tiles, L in bins.chunks:
            g, dx, dy, (ca, cb, cc), vis, alpha_raw, alpha, T_excl, live, w, T_final = _chunk(
                bins, tiles, L, means2d, conics, opacities
            )
            gO, gA = grads[tiles, :, :-1], grads[tiles, :, -1:]
            f = features[g]  # [k, L, F]
            g_f.index_add_(0, g.flatten(), torch.bmm(w.transpose(1, 2), gO).flatten(0, 1))
            gf = torch.bmm(gO, f.transpose(1, 2))  # [k, P, L] dLoss/dOut . feature
            wg = w * gf
            suffix = torch.flip(torch.cumsum(torch.flip(wg, [-1]), -1), [-1]) - wg  # sum over later slots
            g_alpha = (T_excl * gf - (suffix - gA * T_final[..., None]) / (1.0 - alpha)) * live
            g_alpha = torch.where((alpha > 0) & (alpha_raw <= ALPHA_MAX), g_alpha, 0.0)
            g_sigma = -g_alpha * alpha_raw
            sx, sy = (g_sigma * dx).sum(1), (g_sigma * dy).sum(1)
            sxx, syy, sxy = (g_sigma * dx * dx).sum(1), (g_sigma * dy * dy).sum(1), (g_sigma * dx * dy).sum(1)
            a, b, c = ca[:, 0], cb[:, 0], cc[:, 0]
            flat = g.flatten()
            g_m.index_add_(0, flat, torch.stack([a * sx + b * sy, c * sy + b * sx], -1).flatten(0, 1))
            g_c.index_add_(0, flat, torch.stack([0.5 * sxx, sxy, 0.5 * syy], -1).flatten(0, 1))
            g_o.index_add_(0, flat, (g_alpha * vis).sum(1).flatten())
        return g_m, g_c, g_o, g_f, None
