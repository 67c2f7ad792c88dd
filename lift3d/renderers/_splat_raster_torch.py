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
        groups: non-empty tile ids in groups of similar list length (longest first).
        outside: ``[C * tiles, P]`` pixels of the padded tile grid that lie outside the image.
    """

    flat_ids: torch.Tensor
    offsets: torch.Tensor
    counts: torch.Tensor
    groups: list[torch.Tensor]
    outside: torch.Tensor
    n_images: int
    tiles_x: int
    tiles_y: int
    tile_size: int
    width: int
    height: int
    slice_size: int


@torch.no_grad()
def bin_tiles(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = 16,
    slice_size: int = 32,
    group_elements: int = 1 << 18,
) -> TileBins:
    """Bin projected Gaussians ``[C, N, ...]`` into depth-sorted per-tile lists.

    Compositing then walks each group of tiles ``slice_size`` depth slots at a time, with at most
    ``group_elements`` (tile x pixel x slot) elements per step: small enough to stay in cache.
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
    flat_ids = ids[entry[torch.argsort(tile, stable=True)]]
    counts = torch.bincount(tile, minlength=C * n_tiles)
    offsets = torch.cumsum(counts, 0) - counts

    nonempty = counts.nonzero().squeeze(1)
    nonempty = nonempty[torch.argsort(counts[nonempty], descending=True)]
    per_group = max(1, group_elements // (tile_size * tile_size * slice_size))
    groups = list(torch.split(nonempty, per_group))
    p = torch.arange(tile_size * tile_size, device=dev)
    local = torch.arange(n_tiles, device=dev)
    px = (local % tiles_x)[:, None] * tile_size + p % tile_size
    py = (local // tiles_x)[:, None] * tile_size + p // tile_size
    outside = ((px >= width) | (py >= height)).repeat(C, 1)
    return TileBins(
        flat_ids, offsets, counts, groups, outside, C, tiles_x, tiles_y, tile_size, width, height, slice_size
    )


def _slice(bins: TileBins, tiles, start, means2d, conics, opacities, T_start, done):
    """Compositing quantities of depth slots ``[start, start + slice_size)`` of ``tiles [k]``.

    Pixel offsets are separable (``dx`` depends on the pixel column u, ``dy`` on the row v), so
    per-slot terms are built on ``[k, 16, S]`` and only combined at full ``[k, P, S]`` size once.
    Conics are positive definite, so sigma >= 0 (gsplat's sigma < 0 test) holds up to rounding.

    Returns ``g [k, S]`` ids, ``dx [k, 1, U, S]``, ``dy [k, V, 1, S]``, the conic ``(a, b, c)`` each
    ``[k, S]``, per-(tile, pixel, slot) ``[k, P, S]`` tensors, and transmittance and done flags ``[k, P]``
    after the slice.
    """
    ts, dev, dt = bins.tile_size, means2d.device, means2d.dtype
    k, S = len(tiles), bins.slice_size
    slots = start + torch.arange(S, device=dev)
    valid = slots[None, :] < bins.counts[tiles, None]
    g = bins.flat_ids[(bins.offsets[tiles, None] + slots).clamp_max(len(bins.flat_ids) - 1)]  # [k, S]
    local = tiles % (bins.tiles_x * bins.tiles_y)
    q = torch.arange(ts, device=dev, dtype=dt) + 0.5
    px = (local % bins.tiles_x).to(dt)[:, None] * ts + q  # [k, U]
    py = (local // bins.tiles_x).to(dt)[:, None] * ts + q  # [k, V]
    mx, my = means2d[g].unbind(-1)  # [k, S]
    ca, cb, cc = conics[g].unbind(-1)
    dx = mx[:, None, :] - px[:, :, None]  # [k, U, S]
    dy = my[:, None, :] - py[:, :, None]  # [k, V, S]
    sig_u = (0.5 * ca[:, None, :]) * dx * dx
    sig_v = (0.5 * cc[:, None, :]) * dy * dy
    dx, dy = dx[:, None, :, :], dy[:, :, None, :]
    sigma = (sig_u[:, None] + sig_v[:, :, None]).addcmul_(cb[:, None, None, :] * dy, dx).reshape(k, -1, S)
    vis = torch.exp(sigma.neg_())
    alpha_raw = vis * torch.where(valid, opacities[g], 0.0)[:, None, :]
    alpha = torch.where(alpha_raw >= ALPHA_MIN, alpha_raw.clamp_max(ALPHA_MAX), 0.0)
    T_all = torch.cat([T_start[..., None], torch.cumprod(1.0 - alpha, dim=-1) * T_start[..., None]], -1)
    T_excl = T_all[..., :-1]
    live = (T_all[..., 1:] > T_MIN) & ~done[..., None]
    w = torch.where(live, alpha * T_excl, 0.0)
    T_end = T_all.gather(-1, live.sum(-1, keepdim=True)).squeeze(-1)
    done_end = done | (T_all[..., -1] <= T_MIN)
    return g, dx, dy, (ca, cb, cc), vis, alpha_raw, alpha, T_excl, live, w, T_end, done_end


def _walk(bins: TileBins, tiles: torch.Tensor):
    """Yield ``(active, start)``: tile positions still compositing at each slice start.

    The caller updates ``state["done"]`` so tiles whose pixels are all done drop out (early stop).
    """
    active = torch.arange(len(tiles), device=tiles.device)
    start = 0
    state = {"done": bins.outside[tiles].clone()}
    while len(active):
        keep = (bins.counts[tiles[active]] > start) & ~state["done"][active].all(-1)
        active = active[keep]
        if len(active) == 0:
            return
        yield active, start, state
        start += bins.slice_size


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
        P, F = bins.tile_size**2, features.shape[-1]
        out = torch.zeros(len(bins.counts), P, F + 1, dtype=features.dtype, device=features.device)
        out[..., -1] = 1.0
        for tiles in bins.groups:
            acc = torch.zeros(len(tiles), P, F, dtype=features.dtype, device=features.device)
            T = torch.ones(len(tiles), P, dtype=features.dtype, device=features.device)
            for active, start, state in _walk(bins, tiles):
                g, *_, w, T_end, done_end = _slice(
                    bins, tiles[active], start, means2d, conics, opacities, T[active], state["done"][active]
                )
                acc[active] += torch.bmm(w, features[g])
                T[active], state["done"][active] = T_end, done_end
            out[tiles, :, :-1], out[tiles, :, -1] = acc, T
        ctx.bins = bins
        ctx.save_for_backward(means2d, conics, opacities, features, out)
        img = _from_tiles(out, bins)
        return img[..., :-1], 1.0 - img[..., -1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_features, grad_alpha):
        bins: TileBins = ctx.bins
        means2d, conics, opacities, features, out = ctx.saved_tensors
        grads = _to_tiles(torch.cat([grad_features, -grad_alpha], dim=-1), bins)  # d/dT = -d/dalpha
        g_m, g_c = torch.zeros_like(means2d), torch.zeros_like(conics)
        g_o, g_f = torch.zeros_like(opacities), torch.zeros_like(features)
        ts = bins.tile_size
        for tiles in bins.groups:
            gO, gT = grads[tiles, :, :-1], grads[tiles, :, -1]
            T_final = out[tiles, :, -1]
            total = (gO * out[tiles, :, :-1]).sum(-1)  # [k, P] dLoss/dOut . Out
            cum = torch.zeros_like(total)  # running sum of w_j (dLoss/dOut . f_j) over earlier slots
            T = torch.ones_like(total)
            for active, start, state in _walk(bins, tiles):
                g, dx, dy, (ca, cb, cc), vis, alpha_raw, alpha, T_excl, live, w, T_end, done_end = _slice(
                    bins, tiles[active], start, means2d, conics, opacities, T[active], state["done"][active]
                )
                T[active], state["done"][active] = T_end, done_end
                gOa = gO[active]
                g_f.index_add_(0, g.flatten(), torch.bmm(w.transpose(1, 2), gOa).flatten(0, 1))
                gf = torch.bmm(gOa, features[g].transpose(1, 2))  # [k, P, S]
                incl = cum[active, :, None] + torch.cumsum(w * gf, -1)
                cum[active] = incl[..., -1]
                later = total[active, :, None] - incl  # sum over later slots of w_j gf_j
                g_alpha = T_excl * gf - (later + (gT[active] * T_final[active])[..., None]) / (1.0 - alpha)
                g_alpha = torch.where((w > 0) & (alpha_raw <= ALPHA_MAX), g_alpha, 0.0)
                g_sigma = (g_alpha * alpha_raw).neg_().reshape(len(active), ts, ts, -1)  # [k, V, U, S]
                su, sv = g_sigma.sum(1, keepdim=True), g_sigma.sum(2, keepdim=True)  # [k,1,U,S], [k,V,1,S]
                sx, sxx = (su * dx).sum((1, 2)), (su * dx * dx).sum((1, 2))
                sy, syy = (sv * dy).sum((1, 2)), (sv * dy * dy).sum((1, 2))
                sxy = ((g_sigma * dx).sum(2, keepdim=True) * dy).sum((1, 2))
                flat = g.flatten()
                g_m.index_add_(0, flat, torch.stack([ca * sx + cb * sy, cc * sy + cb * sx], -1).flatten(0, 1))
                g_c.index_add_(0, flat, torch.stack([0.5 * sxx, sxy, 0.5 * syy], -1).flatten(0, 1))
                g_o.index_add_(0, flat, (g_alpha * vis).sum(1).flatten())
        return g_m, g_c, g_o, g_f, None
