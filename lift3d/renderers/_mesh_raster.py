"""Binned z-buffer visibility for triangle meshes (no gradients): which face wins each pixel.

Ours, in torch, because no differentiable mesh rasterizer runs on CPU here (nvdiffrast is CUDA-only
and not on PyPI, pytorch3d has no usable CPU wheel). Binning: each face only tests the pixel centres
of its own screen-space bounding box. Faces are grouped by the power-of-two tile (``tw x th``) that
covers their box, and each group is evaluated as one dense ``[faces, tw * th]`` broadcast (chunked to
bound memory): the edge functions and ``1/z`` are affine in screen space, so a face's coverage and
depth at offset ``(dx, dy)`` from its first box pixel are ``c0 + c1 dx + c2 dy``, with no gathers.
The work is proportional to the covered area (at most 4x the box area) rather than to
pixels x faces. Each candidate's depth and face id are packed into one int64 key (positive float32
bits are ordered like integers) and ``scatter_reduce(amin)`` resolves the z-test; ties go to the
lower face id. :func:`rasterize_brute_force` is the all-pixels x all-faces oracle used by tests and
the benchmark; it evaluates the same affine forms with the same float operations, so both agree
exactly.

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


def _bbox(p: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, ...]:
    """First pixel ``(x0, y0)`` and size ``(bw, bh)`` of the pixel centres inside each face's bounding box."""
    lo = torch.nan_to_num(p.amin(dim=-2), nan=0.0, posinf=1e9, neginf=-1e9)
    hi = torch.nan_to_num(p.amax(dim=-2), nan=0.0, posinf=1e9, neginf=-1e9)
    x0 = torch.ceil(lo[..., 0] - 0.5).clamp(0, width).long()
    x1 = torch.floor(hi[..., 0] - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(lo[..., 1] - 0.5).clamp(0, height).long()
    y1 = torch.floor(hi[..., 1] - 0.5).clamp(-1, height - 1).long()
    return x0, y0, (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)


def _coefficients(p: torch.Tensor, inv_z: torch.Tensor, area2: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor):
    """Affine screen-space forms ``[..., 4, 3]`` of ``(b0, b1, b2, 1/z)`` around pixel ``(x0, y0)``.

    Row ``k`` holds ``(value at the pixel centre, d/dx, d/dy)``; evaluating at integer offsets from the
    face's first bounding-box pixel keeps the float error of an edge test independent of image size.
    """
    area = torch.where(area2 == 0, torch.ones_like(area2), area2)[..., None]
    r = p - torch.stack([x0, y0], -1).to(p.dtype)[..., None, :] - 0.5  # corners relative to the pixel centre
    x, y = r[..., 0], r[..., 1]
    i, j = [1, 2, 0], [2, 0, 1]
    value = (x[..., i] * y[..., j] - y[..., i] * x[..., j]) / area
    ddx = (y[..., i] - y[..., j]) / area
    ddy = (x[..., j] - x[..., i]) / area
    bary = torch.stack([value, ddx, ddy], -1)  # [..., 3, 3]
    w = (bary * inv_z[..., None]).sum(-2, keepdim=True)
    return torch.cat([bary, w], -2)


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
        cull_backfaces: drop faces seen from behind, taking normals by the right-hand rule over the
            vertex order (trimesh's outward convention).
        chunk: maximum number of (pixel, face) candidates processed at once (memory bound).

    Returns:
        ``[B, H, W]`` long face ids, ``-1`` where no face covers the pixel.
    """
    B, F = pix.shape[0], faces.shape[0]
    keys = torch.full((B * height * width,), _EMPTY, dtype=torch.int64, device=pix.device)
    if F == 0:
        return _unpack(keys).view(B, height, width)
    p, inv_z, area2, valid = face_screen_data(pix, z, faces, near)
    if cull_backfaces:
        valid &= area2 < 0  # outward (right-hand rule) normals facing the camera give area2 < 0 (y down)
    x0, y0, bw, bh = _bbox(p, width, height)
    count = torch.where(valid, bw * bh, torch.zeros_like(bw)).reshape(-1)  # [B * F]
    sel = torch.nonzero(count).squeeze(1)
    if sel.numel() == 0:
        return _unpack(keys).view(B, height, width)
    cam, face = sel // F, sel % F
    x0, y0, bw, bh = x0.reshape(-1)[sel], y0.reshape(-1)[sel], bw.reshape(-1)[sel], bh.reshape(-1)[sel]
    coef = _coefficients(p.reshape(B * F, 3, 2)[sel], inv_z.reshape(B * F, 3)[sel], area2.reshape(-1)[sel], x0, y0)
    first = (cam * height + y0) * width + x0  # flat index of each face's first bounding-box pixel
    # Bin faces by power-of-two tile size (tw x th) covering their bounding box.
    lw = torch.ceil(torch.log2(bw.to(torch.float64))).long()
    lh = torch.ceil(torch.log2(bh.to(torch.float64))).long()
    tile_class = lw * 64 + lh
    order = torch.argsort(tile_class, stable=True)
    classes, sizes = torch.unique_consecutive(tile_class[order], return_counts=True)
    offset = 0
    for cls, n in zip(classes.tolist(), sizes.tolist()):
        tw, th = 1 << (cls // 64), 1 << (cls % 64)
        members = order[offset : offset + n]
        offset += n
        dy, dx = torch.meshgrid(torch.arange(th, device=pix.device), torch.arange(tw, device=pix.device), indexing="ij")
        dx, dy = dx.reshape(-1), dy.reshape(-1)
        step = max(1, chunk // (tw * th))
        for s in range(0, n, step):
            idx = members[s : s + step]
            c = coef[idx]  # [m, 4, 3]
            v = c[..., 0, None] + c[..., 1, None] * dx.to(c.dtype) + c[..., 2, None] * dy.to(c.dtype)  # [m, 4, T]
            hit = (v[:, :3] >= 0).all(1) & (dx < bw[idx, None]) & (dy < bh[idx, None])
            # Misses scatter the neutral key (to a clamped index), which avoids boolean compaction.
            index = (first[idx, None] + dy * width + dx).clamp_max(keys.numel() - 1)
            key = torch.where(hit, _pack(1.0 / v[:, 3].clamp_min(1e-30), face[idx, None]), _EMPTY)
            keys.scatter_reduce_(0, index.reshape(-1), key.reshape(-1), reduce="amin")
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
        x0, y0, bw, bh = _bbox(p, width, height)
        coef = _coefficients(p, inv_z, area2, x0, y0)  # [B, F, 4, 3]
        px, py = pixels % width, pixels // width
        step = max(1, chunk // F)
        fid = torch.arange(F, device=pix.device)
        for b in range(B):
            c = coef[b]  # [F, 4, 3]
            for s in range(0, pixels.numel(), step):
                dx = px[s : s + step, None] - x0[b]  # [n, F]
                dy = py[s : s + step, None] - y0[b]
                v = c[..., 0] + c[..., 1] * dx[..., None].to(c.dtype) + c[..., 2] * dy[..., None].to(c.dtype)
                hit = (v[..., :3] >= 0).all(-1) & (dx >= 0) & (dx < bw[b]) & (dy >= 0) & (dy < bh[b]) & valid[b]
                key = torch.where(hit, _pack(1.0 / v[..., 3].clamp_min(1e-30), fid), _EMPTY)
                out[b, s : s + step] = _unpack(key.amin(dim=1))
    return out.view(B, height, width) if full else out
