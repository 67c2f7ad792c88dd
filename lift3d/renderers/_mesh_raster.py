"""Binned z-buffer visibility for triangle meshes (no gradients): which face wins each pixel.

Ours, in torch, because no differentiable mesh rasterizer runs on CPU here (nvdiffrast is CUDA-only
and not on PyPI, pytorch3d has no usable CPU wheel). Binning: every face only tests the pixel centres
inside its own screen-space bounding box, enumerated into one flat candidate list and processed in
chunks of bounded size, so the work is proportional to the covered area rather than to
pixels x faces. Each candidate's depth and face id are packed into one int64 key
(positive float32 bits are ordered like integers) and a single ``scatter_reduce(amin)`` resolves the
z-test; ties go to the lower face id. :func:`rasterize_brute_force` is the all-pixels x all-faces
oracle used by tests and the benchmark; both share :func:`_candidate_depth`, so they agree exactly.

Faces are culled when a vertex lies behind the near plane, a vertex is not finite, or the projected
area is below ``1e-10`` square pixels (degenerate). Pixel centres are at ``(i + 0.5, j + 0.5)``; a
pixel is covered when all three screen-space barycentrics are ``>= 0``.
"""

from __future__ import annotations

import torch

_EMPTY = torch.iinfo(torch.int64).max
MIN_AREA = 1e-10


def face_screen_data(pix: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, near: float) -> tuple[torch.Tensor, ...]:
    """Per-camera, per-face corners, reciprocal depths, signed doubled area and a validity mask.

    Args:
        pix: ``[B, V, 2]`` pixel coordinates.
        z: ``[B, V]`` camera-space depth.
        faces: ``[F, 3]`` indices.
        near: near-plane depth.

    Returns:
        ``(p [B, F, 3, 2], inv_z [B, F, 3], area2 [B, F], valid [B, F] bool)``.
    """
    f = faces.long()
    p = pix[:, f]  # [B, F, 3, 2]
    zf = z[:, f]
    e1, e2 = p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :]
    area2 = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    finite = torch.isfinite(p).all(dim=(-1, -2)) & torch.isfinite(zf).all(dim=-1)
    valid = finite & (zf > near).all(dim=-1) & (area2.abs() > 2 * MIN_AREA)
    inv_z = 1.0 / torch.where(zf > near, zf, torch.ones_like(zf))
    return p, inv_z, area2, valid


def _candidate_depth(
    cx: torch.Tensor, cy: torch.Tensor, p: torch.Tensor, inv_z: torch.Tensor, area2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coverage and perspective-correct depth of pixel centres ``(cx, cy) [N]`` in faces ``p [N, 3, 2]``."""
    x0, y0, x1, y1, x2, y2 = p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1], p[:, 2, 0], p[:, 2, 1]
    b0 = ((x1 - cx) * (y2 - cy) - (y1 - cy) * (x2 - cx)) / area2
    b1 = ((x2 - cx) * (y0 - cy) - (y2 - cy) * (x0 - cx)) / area2
    b2 = 1.0 - b0 - b1
    inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0)
    depth = 1.0 / (b0 * inv_z[:, 0] + b1 * inv_z[:, 1] + b2 * inv_z[:, 2]).clamp_min(1e-30)
    return inside, depth


def _pack(depth: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    bits = depth.float().clamp_min(0.0).view(torch.int32).long()
    return (bits << 32) | face


def _unpack(keys: torch.Tensor) -> torch.Tensor:
    return torch.where(keys == _EMPTY, torch.full_like(keys, -1), keys & 0xFFFFFFFF)


@torch.no_grad()
def rasterize(
    pix: torch.Tensor,
    z: torch.Tensor,
    faces: torch.Tensor,
    width: int,
    height: int,
    near: float = 1e-3,
    cull_backfaces: bool = False,
    chunk: int = 1 << 22,
) -> torch.Tensor:
    """Face id of the nearest covering face at each pixel centre.

    Args:
        pix: ``[B, V, 2]`` projected vertices (pixels, x right, y down).
        z: ``[B, V]`` camera-space depth.
        faces: ``[F, 3]`` vertex indices.
        width: image width.
        height: image height.
        near: faces with a vertex at depth ``<= near`` are culled.
        cull_backfaces: drop faces whose projected winding is clockwise in OpenCV pixels (y down),
            i.e. faces seen from behind for counter-clockwise outward-facing meshes.
        chunk: maximum number of (pixel, face) candidates processed at once (memory bound).

    Returns:
        ``[B, H, W]`` long face ids, ``-1`` where no face covers the pixel.
    """
    B = pix.shape[0]
    keys = torch.full((B * height * width,), _EMPTY, dtype=torch.int64, device=pix.device)
    if faces.shape[0] == 0:
        return _unpack(keys).view(B, height, width)
    p, inv_z, area2, valid = face_screen_data(pix, z, faces, near)
    if cull_backfaces:
        valid &= area2 > 0
    lo = torch.nan_to_num(p.amin(dim=2), nan=0.0, posinf=1e9, neginf=-1e9)
    hi = torch.nan_to_num(p.amax(dim=2), nan=0.0, posinf=1e9, neginf=-1e9)
    x0 = torch.ceil(lo[..., 0] - 0.5).clamp(0, width).long()
    x1 = torch.floor(hi[..., 0] - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(lo[..., 1] - 0.5).clamp(0, height).long()
    y1 = torch.floor(hi[..., 1] - 0.5).clamp(-1, height - 1).long()
    bw, bh = (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)
    count = torch.where(valid, bw * bh, torch.zeros_like(bw)).reshape(-1)  # [B * F]
    sel = torch.nonzero(count).squeeze(1)
    if sel.numel() == 0:
        return _unpack(keys).view(B, height, width)
    count = count[sel]
    ends = torch.cumsum(count, 0)
    F = faces.shape[0]
    flat = lambda t: t.reshape(B * F, *t.shape[2:])[sel]  # noqa: E731
    p_s, iz_s, a_s = flat(p), flat(inv_z), flat(area2)
    x0_s, y0_s, bw_s = flat(x0), flat(y0), flat(bw)
    cam_s, face_s = sel // F, sel % F
    start = 0
    while start < sel.numel():
        # The largest run of faces whose candidates fit in `chunk` (at least one face).
        base = int(ends[start - 1]) if start > 0 else 0
        stop = max(int(torch.searchsorted(ends, base + chunk, right=True)), start + 1)
        c = count[start:stop]
        owner = torch.repeat_interleave(torch.arange(start, stop, device=pix.device), c)
        local = torch.arange(int(c.sum()), device=pix.device) - (ends[owner] - count[owner] - base)
        px = x0_s[owner] + local % bw_s[owner]
        py = y0_s[owner] + local // bw_s[owner]
        inside, depth = _candidate_depth(px.to(p.dtype) + 0.5, py.to(p.dtype) + 0.5, p_s[owner], iz_s[owner], a_s[owner])
        owner, px, py, depth = owner[inside], px[inside], py[inside], depth[inside]
        index = (cam_s[owner] * height + py) * width + px
        keys.scatter_reduce_(0, index, _pack(depth, face_s[owner]), reduce="amin")
        start = stop
    return _unpack(keys).view(B, height, width)


@torch.no_grad()
def rasterize_brute_force(
    pix: torch.Tensor,
    z: torch.Tensor,
    faces: torch.Tensor,
    width: int,
    height: int,
    near: float = 1e-3,
    pixels: torch.Tensor | None = None,
    chunk: int = 1 << 22,
) -> torch.Tensor:
    """Reference visibility: test every pixel against every face (O(pixels x faces)).

    Args:
        pix, z, faces, width, height, near: as :func:`rasterize`.
        pixels: optional ``[P]`` flat pixel indices (``y * width + x``) to evaluate instead of all.
        chunk: maximum (pixel, face) pairs evaluated at once.

    Returns:
        ``[B, H, W]`` face ids (or ``[B, P]`` when ``pixels`` is given), ``-1`` for none.
    """
    B, F = pix.shape[0], faces.shape[0]
    full = pixels is None
    if pixels is None:
        pixels = torch.arange(width * height, device=pix.device)
    out = torch.full((B, pixels.numel()), -1, dtype=torch.long, device=pix.device)
    if F > 0:
        p, inv_z, area2, valid = face_screen_data(pix, z, faces, near)
        cx = (pixels % width).to(p.dtype) + 0.5
        cy = (pixels // width).to(p.dtype) + 0.5
        step = max(1, chunk // F)
        fid = torch.arange(F, device=pix.device)
        for b in range(B):
            for s in range(0, pixels.numel(), step):
                n = min(step, pixels.numel() - s)
                qx = cx[s : s + n, None].expand(n, F).reshape(-1)
                qy = cy[s : s + n, None].expand(n, F).reshape(-1)
                pf = p[b][None].expand(n, F, 3, 2).reshape(-1, 3, 2)
                inside, depth = _candidate_depth(
                    qx, qy, pf, inv_z[b][None].expand(n, F, 3).reshape(-1, 3), area2[b].repeat(n)
                )
                inside = inside & valid[b].repeat(n)
                key = torch.where(inside, _pack(depth, fid.repeat(n)), torch.full_like(inside, _EMPTY, dtype=torch.int64))
                out[b, s : s + n] = _unpack(key.view(n, F).amin(dim=1))
    return out.view(B, height, width) if full else out
