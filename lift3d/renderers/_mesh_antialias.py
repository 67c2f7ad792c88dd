"""Analytic antialiasing of silhouette edges, so vertex positions get gradients from coverage.

Our torch implementation of the scheme of nvdiffrast ("Modular Primitives for High-Performance
Differentiable Rendering", arXiv 2011.03277, section 3.3): for every pair of horizontally or vertically
adjacent pixels whose winning faces differ, the winning face ``f`` of one pixel ``o`` is followed along
the segment to the other pixel centre ``r``. If it leaves ``f`` through a *silhouette* edge (a boundary
edge, or one whose neighbour face is culled or faces the other way), the crossing point ``t`` in
``[0, 1]`` along the segment decides the blend: ``t > 1/2`` means ``f`` covers ``t - 1/2`` of ``r``,
so ``r`` moves toward ``o``'s colour by that amount; ``t < 1/2`` means ``o`` itself is only
``t + 1/2`` covered and moves toward ``r``'s colour. Horizontal pairs only use edges that are more
vertical than horizontal and vice versa, so each edge is counted once and the summed coverage of a
triangle approximates its area. ``t`` is a ratio of edge functions, hence differentiable in the
projected vertex positions.
"""

from __future__ import annotations

import torch


def _edge_values(p: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Unnormalised barycentrics ``[N, 3]`` (edge functions) of points in triangles ``p [N, 3, 2]``."""
    x0, y0, x1, y1, x2, y2 = p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1], p[:, 2, 0], p[:, 2, 1]
    e0 = (x1 - cx) * (y2 - cy) - (y1 - cy) * (x2 - cx)
    e1 = (x2 - cx) * (y0 - cy) - (y2 - cy) * (x0 - cx)
    e2 = (x0 - cx) * (y1 - cy) - (y0 - cy) * (x1 - cx)
    return torch.stack([e0, e1, e2], dim=-1)


def _pairs(face_ids: torch.Tensor, horizontal: bool) -> tuple[torch.Tensor, ...]:
    """Ordered pixel pairs ``(cam, yo, xo, yr, xr)`` with different winners and a face at ``o``."""
    if horizontal:
        a, b = face_ids[:, :, :-1], face_ids[:, :, 1:]
        dy, dx = 0, 1
    else:
        a, b = face_ids[:, :-1, :], face_ids[:, 1:, :]
        dy, dx = 1, 0
    cam, y, x = torch.nonzero(a != b, as_tuple=True)
    fa, fb = a[cam, y, x], b[cam, y, x]
    first, second = fa >= 0, fb >= 0
    cams = torch.cat([cam[first], cam[second]])
    yo = torch.cat([y[first], y[second] + dy])
    xo = torch.cat([x[first], x[second] + dx])
    yr = torch.cat([y[first] + dy, y[second]])
    xr = torch.cat([x[first] + dx, x[second]])
    return cams, yo, xo, yr, xr


def antialias(
    color: torch.Tensor,
    face_ids: torch.Tensor,
    pix: torch.Tensor,
    faces: torch.Tensor,
    neighbors: torch.Tensor,
    area2: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """Blend colours across silhouette edges.

    Args:
        color: ``[B, H, W, C]`` shaded image, background composited (alpha may be one of the channels).
        face_ids: ``[B, H, W]`` winners, ``-1`` for background.
        pix: ``[B, V, 2]`` projected vertices (differentiable).
        faces: ``[F, 3]`` indices.
        neighbors: ``[F, 3]`` face across edge ``k = (v_k, v_{k+1})``, ``-1`` on boundaries.
        area2: ``[B, F]`` signed doubled screen area (its sign is the facing).
        valid: ``[B, F]`` faces that were rasterized (not culled).

    Returns:
        ``[B, H, W, C]`` antialiased colour.
    """
    B, H, W, C = color.shape
    flat_color = color.reshape(B * H * W, C)
    out = flat_color
    f_long = faces.long()
    for horizontal in (True, False):
        cam, yo, xo, yr, xr = _pairs(face_ids, horizontal)
        if cam.numel() == 0:
            continue
        f = face_ids[cam, yo, xo]
        p = pix[cam[:, None], f_long[f]]  # [N, 3, 2]
        eo = _edge_values(p, xo.to(p.dtype) + 0.5, yo.to(p.dtype) + 0.5)
        er = _edge_values(p, xr.to(p.dtype) + 0.5, yr.to(p.dtype) + 0.5)
        sign = torch.sign(area2[cam, f])[:, None]
        eo, er = eo * sign, er * sign  # positive inside
        leaving = er < 0
        t = torch.where(leaving, eo / torch.where(leaving, eo - er, torch.ones_like(er)), torch.full_like(er, 2.0))
        t_star, k = t.min(dim=-1)
        edge = (k + 1) % 3  # the edge opposite vertex k joins vertices k+1 and k+2
        n = neighbors[f, edge]
        n_safe = n.clamp_min(0)
        silhouette = (n < 0) | ~valid[cam, n_safe] | (torch.sign(area2[cam, n_safe]) != sign[:, 0])
        rows = torch.arange(p.shape[0], device=p.device)
        d = p[rows, (edge + 1) % 3] - p[rows, edge]
        steep = d[:, 1].abs() >= d[:, 0].abs()
        oriented = steep if horizontal else ~steep
        keep = silhouette & oriented & (t_star <= 1.0) & leaving.any(dim=-1)
        if not keep.any():
            continue
        cam, t_star = cam[keep], t_star[keep].clamp(0.0, 1.0)
        io = (cam * H + yo[keep]) * W + xo[keep]
        ir = (cam * H + yr[keep]) * W + xr[keep]
        c_o, c_r = flat_color[io], flat_color[ir]
        into_r = t_star >= 0.5
        target = torch.where(into_r, ir, io)
        weight = torch.where(into_r, t_star - 0.5, 0.5 - t_star)[:, None]
        delta = weight * torch.where(into_r[:, None], c_o - c_r, c_r - c_o)
        out = out.index_add(0, target, delta)
    return out.view(B, H, W, C)
