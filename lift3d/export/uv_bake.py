"""UV unwrapping (xatlas) and texture baking by rasterizing the UV layout in texture space.

Baking follows the threestudio / nerfstudio exporters: every texel covered by a triangle in UV space
gets the 3D surface point with the same barycentric coordinates, the appearance callable is queried
there, and colours are pushed a few texels past chart borders (seam padding) so bilinear filtering
and mip-maps never blend in the empty background. The 2D rasterizer is our own (torch, CPU): the
field's nvdiffrast path needs CUDA/OpenGL.

UV convention (OBJ / trimesh): ``u`` to the right, ``v`` up; texel row ``r`` of an ``H``-row image
holds ``v = 1 - (r + 0.5) / H``. trimesh flips ``v`` when writing glTF (whose origin is top-left).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import trimesh
from PIL import Image
from torch import Tensor

from lift3d.export.mesh_cleanup import unit_vertex_normals

AlbedoFn = Callable[[Tensor], Tensor]
"""Appearance at surface points: ``points [N, 3] -> rgb [N, 3]`` in [0, 1]."""


def unwrap_uv(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas charting + packing.

    Returns:
        ``(vmapping [V'], faces [F, 3], uv [V', 2])``: new vertex ``j`` is old vertex ``vmapping[j]``
        (vertices are split along chart seams); ``uv`` in [0, 1], ``v`` up.
    """
    import xatlas

    vmapping, new_faces, uv = xatlas.parametrize(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32))
    return vmapping.astype(np.int64), new_faces.astype(np.int64), uv.astype(np.float32)


def _edge(p: Tensor, q: Tensor, cx: Tensor, cy: Tensor) -> Tensor:
    """Twice the signed area of triangles ``(p [C, 2], q [C, 2], texel centre (cx, cy) [C, k, k])``."""
    return ((q[:, 0] - p[:, 0])[:, None, None] * (cy - p[:, 1, None, None])
            - (q[:, 1] - p[:, 1])[:, None, None] * (cx - p[:, 0, None, None]))


@torch.no_grad()
def rasterize_uv(uv: Tensor, faces: Tensor, height: int, width: int, budget: int = 1 << 21) -> tuple[Tensor, Tensor]:
    """Rasterize triangles given in UV space onto an ``H x W`` texel grid (texel centres).

    Triangles are sorted by bounding-box size and grouped so that (group size) x (largest box in the
    group)^2 <= ``budget``; each group is tested against one shared ``k x k`` texel stencil with edge
    functions, so memory stays bounded by ``budget`` (a few hundred MB) whatever the mesh. Later faces
    win where triangles overlap.

    Args:
        uv: ``[V, 2]`` texture coordinates (``v`` up). faces: ``[F, 3]`` indices into ``uv``.

    Returns:
        ``(face_id [H, W] long, -1 where empty; bary [H, W, 3] barycentric weights)``.
    """
    tri = uv[faces].double()  # [F, 3, 2]
    px = torch.stack([tri[..., 0] * width, (1.0 - tri[..., 1]) * height], dim=-1)  # texel units, y down
    lo = torch.floor(px.amin(1) - 0.5).long().clamp_min(0)
    hi = torch.ceil(px.amax(1) - 0.5).long().clamp_max(torch.tensor([width - 1, height - 1]))
    size = (hi - lo + 1).clamp_min(0)
    area = ((px[:, 1] - px[:, 0]).unbind(-1)[0] * (px[:, 2] - px[:, 0]).unbind(-1)[1]
            - (px[:, 1] - px[:, 0]).unbind(-1)[1] * (px[:, 2] - px[:, 0]).unbind(-1)[0])
    keep = (area.abs() > 1e-12) & (size > 0).all(-1)
    order = torch.nonzero(keep).squeeze(-1)
    order = order[size[order].amax(-1).argsort()]
    face_id = torch.full((height * width + 1,), -1, dtype=torch.long)
    bary = torch.zeros(height * width + 1, 3, dtype=torch.float32)
    side = size[order].amax(-1)  # ascending: each group is as large as its biggest box allows
    start = 0
    while start < order.numel():
        # the largest n with side[start + n - 1]^2 * n <= budget (monotone, since side is non-decreasing)
        n = torch.arange(1, order.numel() - start + 1)
        count = max(1, int((side[start:] ** 2 * n <= budget).sum()))
        idx = order[start : start + count]
        k = int(side[start + count - 1])
        r = torch.arange(k)
        ix = (lo[idx, 0, None, None] + r[None, None, :]).expand(-1, k, k)  # [C, k, k]
        iy = (lo[idx, 1, None, None] + r[None, :, None]).expand(-1, k, k)
        cx, cy = ix.double() + 0.5, iy.double() + 0.5
        a, b, c = px[idx, 0], px[idx, 1], px[idx, 2]

        w = torch.stack([_edge(b, c, cx, cy), _edge(c, a, cx, cy), _edge(a, b, cx, cy)], dim=-1)
        w = w / area[idx, None, None, None]
        inside = (w >= -1e-9).all(-1) & (ix <= hi[idx, 0, None, None]) & (iy <= hi[idx, 1, None, None])
        flat = torch.where(inside, iy * width + ix, height * width)
        face_id[flat.reshape(-1)] = idx[:, None, None].expand(-1, k, k).reshape(-1)
        bary[flat.reshape(-1)] = w.reshape(-1, 3).float()
        start += idx.numel()
    return face_id[:-1].reshape(height, width), bary[:-1].reshape(height, width, 3)


def dilate(image: Tensor, mask: Tensor, pixels: int) -> tuple[Tensor, Tensor]:
    """Seam padding: grow ``image [H, W, C]`` outward from ``mask [H, W]`` by ``pixels`` texels.

    Each step fills every empty texel that touches a filled one (8-neighbourhood) with the mean of
    its filled neighbours. Returns the padded image and the grown mask.
    """
    img = (image * mask[..., None]).permute(2, 0, 1)[None].float()
    m = mask[None, None].float()
    kernel = torch.ones(1, 1, 3, 3)
    for _ in range(pixels):
        total = torch.nn.functional.conv2d(img, kernel.expand(img.shape[1], 1, 3, 3), padding=1, groups=img.shape[1])
        count = torch.nn.functional.conv2d(m, kernel, padding=1)
        grow = (m == 0) & (count > 0)
        img = torch.where(grow, total / count.clamp_min(1), img)
        m = torch.where(grow, torch.ones_like(m), m)
    return img[0].permute(1, 2, 0), m[0, 0] > 0


@torch.no_grad()
def bake_texture(vertices: Tensor, faces: Tensor, uv: Tensor, albedo: AlbedoFn, size: int = 1024,
                 padding: int = 4, chunk: int = 1 << 16) -> tuple[Tensor, Tensor]:
    """Bake ``albedo`` on the surface ``(vertices, faces)`` into a ``size x size`` texture laid out by ``uv``.

    Args:
        vertices: ``[V, 3]``; faces: ``[F, 3]``; uv: ``[V, 2]`` (same vertex indexing).
        albedo: ``points [N, 3] -> rgb [N, 3]``.
        padding: seam-padding width in texels.

    Returns:
        ``(texture [size, size, 3] in [0, 1], mask [size, size] bool of covered texels before padding)``.
    """
    face_id, bary = rasterize_uv(uv, faces, size, size)
    mask = face_id >= 0
    fid = face_id[mask]
    points = (bary[mask][:, :, None] * vertices.float()[faces[fid]]).sum(1)  # [M, 3]
    colors = torch.cat([albedo(points[s : s + chunk]).float().cpu() for s in range(0, points.shape[0], chunk)])
    texture = torch.zeros(size, size, 3)
    texture[mask] = colors.clamp(0.0, 1.0)
    padded, _ = dilate(texture, mask, padding)
    return padded.clamp(0.0, 1.0), mask


@torch.no_grad()
def bake_vertex_colors(faces: Tensor, uv: Tensor, colors: Tensor, size: int = 1024,
                       padding: int = 4) -> tuple[Tensor, Tensor]:
    """Bake per-vertex ``colors [V, 3]`` of ``faces`` laid out by ``uv [V, 2]`` into a ``size x size`` texture
    (barycentric interpolation at each covered texel, then seam padding); returns ``(texture, mask)`` as
    :func:`bake_texture`."""
    face_id, bary = rasterize_uv(uv, faces, size, size)
    mask = face_id >= 0
    texture = torch.zeros(size, size, 3)
    texture[mask] = (bary[mask][:, :, None] * colors.float()[faces[face_id[mask]]]).sum(1).clamp(0.0, 1.0)
    padded, _ = dilate(texture, mask, padding)
    return padded.clamp(0.0, 1.0), mask


def textured_mesh(mesh: trimesh.Trimesh, albedo: AlbedoFn | None, size: int = 1024,
                  padding: int = 4) -> trimesh.Trimesh:
    """Unwrap ``mesh`` with xatlas and bake ``albedo`` into a PBR base-colour texture.

    ``albedo=None`` bakes ``mesh``'s own vertex colours: each texel lies on a known face of ``mesh`` (the UV
    rasterizer's face id and barycentrics), so its colour is that face's vertex colours interpolated, which is
    what a closest-point lookup on the same surface returns, without the search (13 s -> under 1 s for a
    6000-face mesh at 1024 px).

    Returns:
        A new ``trimesh.Trimesh`` (vertices split at UV seams) whose visual is a ``TextureVisuals`` with
        ``uv`` and a ``PBRMaterial`` (base-colour texture, metallic 0, roughness 1, double-sided off), and
        whose vertex normals are those of ``mesh`` (the copies of a vertex split at a seam share its normal).
    """
    vmap, faces, uv = unwrap_uv(mesh.vertices, mesh.faces)
    vertices = np.asarray(mesh.vertices, np.float32)[vmap]
    if albedo is None:
        colors = torch.from_numpy(np.asarray(mesh.visual.vertex_colors[:, :3], np.float32)[vmap] / 255.0)
        tex, _ = bake_vertex_colors(torch.from_numpy(faces), torch.from_numpy(uv), colors, size, padding)
    else:
        tex, _ = bake_texture(torch.from_numpy(vertices), torch.from_numpy(faces), torch.from_numpy(uv), albedo,
                              size, padding)
    image = Image.fromarray((tex.numpy() * 255.0 + 0.5).astype(np.uint8))
    material = trimesh.visual.material.PBRMaterial(
        name="lift3d_baked", baseColorTexture=image, metallicFactor=0.0, roughnessFactor=1.0)
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    normals = unit_vertex_normals(mesh.vertices, mesh.faces)[vmap]  # before the split: seams shade smoothly
    return trimesh.Trimesh(vertices, faces, visual=visual, vertex_normals=normals, process=False)


def sample_texture(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear lookup ``texture [H, W, 3]`` at ``uv [N, 2]`` (``v`` up, texel centres) -> ``[N, 3]``."""
    grid = torch.stack([uv[:, 0] * 2 - 1, (1 - uv[:, 1]) * 2 - 1], dim=-1)[None, :, None, :].float()
    out = torch.nn.functional.grid_sample(texture.permute(2, 0, 1)[None].float(), grid, mode="bilinear",
                                          padding_mode="border", align_corners=False)
    return out[0, :, :, 0].T
