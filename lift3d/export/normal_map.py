"""Tangent-space normal maps baked from a full-resolution surface onto its decimated, UV-unwrapped copy.

Every texel covered by the low-resolution mesh's UV layout (:func:`~lift3d.export.uv_bake.rasterize_uv`) gets
its point on the low-resolution surface; the closest point of the full-resolution mesh is found (k nearest face
centroids, then exact point-triangle distances), its smooth (interpolated vertex) normal is taken and expressed
in the low-resolution tangent frame at the texel, then encoded as RGB (``0.5 * n + 0.5``; +X along +u, +Y along
+v, the OpenGL / glTF / Blender convention, "green up").

Tangent frame (MikkTSpace-like, as glTF viewers compute it when a file has no ``TANGENT`` attribute): per face,
tangent and bitangent from the UV derivatives; averaged per vertex (corner-angle weights); Gram-Schmidt against
the vertex normal; handedness ``w = sign((N x T) . B)``. At a texel the frame is the interpolated ``N`` and
``T`` (orthogonalised again) and ``B = w (N x T)``, the reconstruction a glTF fragment shader does.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from PIL import Image

from lift3d.export.mesh_cleanup import unit_vertex_normals
from lift3d.export.uv_bake import dilate, rasterize_uv, sample_texture

FLAT = np.array([0.5, 0.5, 1.0])
"""The RGB of an unperturbed normal (tangent-space ``(0, 0, 1)``)."""


def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(n, 1e-12)
    if fallback is not None:
        out = np.where(n > 1e-12, out, fallback)
    return out


def vertex_tangents(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per-vertex tangents ``[V, 4]`` (unit ``xyz`` orthogonal to ``normals``, handedness ``w`` = +-1) from ``uv``."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    t = np.asarray(uv, np.float64)
    n = _unit(np.asarray(normals, np.float64))
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2 = p1 - p0, p2 - p0
    d1, d2 = t[f[:, 1]] - t[f[:, 0]], t[f[:, 2]] - t[f[:, 0]]
    r = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    r = np.where(np.abs(r) > 1e-20, r, 1e-20)
    face_t = _unit((e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) / r[:, None])
    face_b = _unit((e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) / r[:, None])
    tangent = np.zeros_like(v)
    bitangent = np.zeros_like(v)
    corners = np.stack([p0, p1, p2], 1)
    for k in range(3):  # corner-angle weights, as MikkTSpace
        a = _unit(corners[:, (k + 1) % 3] - corners[:, k])
        b = _unit(corners[:, (k + 2) % 3] - corners[:, k])
        angle = np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0))[:, None]
        np.add.at(tangent, f[:, k], face_t * angle)
        np.add.at(bitangent, f[:, k], face_b * angle)
    # Gram-Schmidt; a vertex without a usable tangent gets any direction orthogonal to its normal
    any_dir = np.where(np.abs(n[:, :1]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    ortho = tangent - n * (n * tangent).sum(-1, keepdims=True)
    fallback = _unit(any_dir - n * (n * any_dir).sum(-1, keepdims=True))
    tangent = _unit(ortho, fallback)
    w = np.where((np.cross(n, tangent) * bitangent).sum(-1) < 0.0, -1.0, 1.0)
    return np.concatenate([tangent, w[:, None]], 1)


def texel_frames(normals: np.ndarray, tangents: np.ndarray, faces: np.ndarray, face_id: np.ndarray,
                 bary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(T, B, N)`` ``[M, 3]`` each at surface samples (``face_id [M]``, ``bary [M, 3]``) of the low mesh."""
    corner = np.asarray(faces)[face_id]  # [M, 3]
    b = np.asarray(bary, np.float64)[:, :, None]
    n = _unit((b * normals[corner]).sum(1))
    t = (b * tangents[corner, :3]).sum(1)
    t = _unit(t - n * (n * t).sum(-1, keepdims=True))
    w = np.where((b[..., 0] * tangents[corner, 3]).sum(1) < 0.0, -1.0, 1.0)
    return t, w[:, None] * np.cross(n, t), n


def closest_normals(high: trimesh.Trimesh, points: np.ndarray, k: int = 8, chunk: int = 1 << 15,
                    high_normals: np.ndarray | None = None) -> np.ndarray:
    """Smooth normals ``[N, 3]`` of ``high`` at its closest points to ``points`` (among the ``k`` faces with the
    nearest centroids: exact for the fairly uniform meshes marching cubes gives)."""
    from scipy.spatial import cKDTree

    hv = np.asarray(high.vertices, np.float64)
    hf = np.asarray(high.faces, np.int64)
    hn = unit_vertex_normals(hv, hf) if high_normals is None else np.asarray(high_normals, np.float64)
    tri = hv[hf]
    tree = cKDTree(tri.mean(1))
    k = min(k, len(hf))
    out = np.empty((len(points), 3))
    for s in range(0, len(points), chunk):
        p = np.asarray(points[s : s + chunk], np.float64)
        _, cand = tree.query(p, k=k)
        cand = cand.reshape(len(p), k)
        flat_p = np.repeat(p, k, axis=0)
        closest = trimesh.triangles.closest_point(tri[cand.reshape(-1)], flat_p)
        dist = ((closest - flat_p) ** 2).sum(-1).reshape(len(p), k)
        best = dist.argmin(1)
        face = cand[np.arange(len(p)), best]
        q = closest.reshape(len(p), k, 3)[np.arange(len(p)), best]
        bary = trimesh.triangles.points_to_barycentric(tri[face], q)
        bary = np.clip(np.nan_to_num(bary, nan=1.0 / 3.0), 0.0, None)
        bary /= np.maximum(bary.sum(1, keepdims=True), 1e-12)
        out[s : s + chunk] = (bary[:, :, None] * hn[hf[face]]).sum(1)
    return _unit(out, hn[hf[:1, 0]] if len(hf) else None)


def bake_normal_map(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray,
                    high: trimesh.Trimesh, size: int = 1024, padding: int = 4) -> np.ndarray:
    """Tangent-space normal map ``[size, size, 3]`` uint8 of ``high`` on the low mesh ``(vertices, faces, uv,
    normals)`` (one index space; ``uv`` ``v`` up). Texels outside the layout hold the flat normal (seam-padded)."""
    face_id, bary = rasterize_uv(torch.as_tensor(np.asarray(uv), dtype=torch.float32),
                                 torch.as_tensor(np.asarray(faces, np.int64)), size, size)
    mask = (face_id >= 0).numpy()
    fid, b = face_id.numpy()[mask], bary.numpy()[mask].astype(np.float64)
    v = np.asarray(vertices, np.float64)
    n = _unit(np.asarray(normals, np.float64))
    tangents = vertex_tangents(v, faces, uv, n)
    t, bt, nn = texel_frames(n, tangents, faces, fid, b)
    points = (b[:, :, None] * v[np.asarray(faces)[fid]]).sum(1)
    hi = closest_normals(high, points)
    ts = np.stack([(hi * t).sum(-1), (hi * bt).sum(-1), (hi * nn).sum(-1)], -1)
    ts[:, 2] = np.maximum(ts[:, 2], 1e-3)  # a detail facing away from the low surface cannot be shown
    ts = _unit(ts)
    image = torch.tensor(np.broadcast_to(FLAT, (size, size, 3)).copy(), dtype=torch.float32)
    image[torch.from_numpy(mask)] = torch.from_numpy(ts * 0.5 + 0.5).float()
    padded, grown = dilate(image, torch.from_numpy(mask), padding)
    padded[~grown] = torch.tensor(FLAT, dtype=torch.float32)
    return (padded.clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def mesh_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """The vertex normals ``mesh`` holds (the UV bake's, shared at seams) or, if none, computed unit normals."""
    from lift3d.export.mesh_cleanup import stored_normals

    held = stored_normals(mesh)
    return unit_vertex_normals(mesh.vertices, mesh.faces, normals=held)


def add_normal_map(mesh: trimesh.Trimesh, high: trimesh.Trimesh, size: int | None = None,
                   padding: int = 4) -> trimesh.Trimesh:
    """Bake ``high``'s normals into ``mesh``'s PBR material as its ``normalTexture`` (in place; returned).

    ``mesh`` is a UV-textured mesh of :func:`~lift3d.export.uv_bake.textured_mesh` (``PBRMaterial``); ``size``
    defaults to the base-colour texture's size.
    """
    material = mesh.visual.material
    if size is None:
        base = getattr(material, "baseColorTexture", None)
        size = base.size[0] if base is not None else 1024
    normals = mesh_normals(mesh)
    pixels = bake_normal_map(mesh.vertices, mesh.faces, mesh.visual.uv, normals, high, size, padding)
    material.normalTexture = Image.fromarray(pixels)
    from lift3d.export.mesh_cleanup import stored_normals

    if stored_normals(mesh) is None:
        mesh.vertex_normals = normals  # the frame the map was baked in
    return mesh


def drop_normal_map(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` (in place) without a normal texture, where its material has one."""
    material = getattr(getattr(mesh, "visual", None), "material", None)
    if getattr(material, "normalTexture", None) is not None:
        material.normalTexture = None
    return mesh


def shading_normals(mesh: trimesh.Trimesh, face_id: np.ndarray, bary: np.ndarray,
                    use_map: bool = True) -> np.ndarray:
    """Per-sample shading normals ``[M, 3]`` of ``mesh`` at ``(face_id, bary)``: interpolated vertex normals,
    perturbed by the material's normal texture when it has one and ``use_map`` (what a glTF viewer shows)."""
    normals = mesh_normals(mesh)
    faces = np.asarray(mesh.faces)
    b = np.asarray(bary, np.float64)
    material = getattr(mesh.visual, "material", None)
    texture = getattr(material, "normalTexture", None)
    if not use_map or texture is None or getattr(mesh.visual, "uv", None) is None:
        return _unit((b[:, :, None] * normals[faces[face_id]]).sum(1))
    uv = np.asarray(mesh.visual.uv, np.float64)
    tangents = vertex_tangents(mesh.vertices, faces, uv, normals)
    t, bt, n = texel_frames(normals, tangents, faces, face_id, b)
    at = (b[:, :, None] * uv[faces[face_id]]).sum(1)
    image = torch.from_numpy(np.asarray(texture.convert("RGB"), np.float32) / 255.0)
    ts = sample_texture(image, torch.from_numpy(at).float()).numpy().astype(np.float64) * 2.0 - 1.0
    return _unit(ts[:, :1] * t + ts[:, 1:2] * bt + ts[:, 2:3] * n)


def _edge2(p: np.ndarray, q: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Twice the signed area of triangles ``(p [C, 2], q [C, 2], pixel centre (cx, cy) [C, k, k])``."""
    return ((q[:, 0] - p[:, 0])[:, None, None] * (cy - p[:, 1, None, None])
            - (q[:, 1] - p[:, 1])[:, None, None] * (cx - p[:, 0, None, None]))


def rasterize_view(vertices: np.ndarray, faces: np.ndarray, direction: np.ndarray, up: np.ndarray, size: int = 128,
                   extent: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic z-buffered rasterization looking along ``direction`` (a ``2 extent`` wide square view centred
    on the origin, ``up`` towards the top): ``(face_id [size, size], -1 where empty; bary [size, size, 3])``."""
    d = _unit(np.asarray(direction, np.float64))
    right = _unit(np.cross(d, np.asarray(up, np.float64)))
    upv = np.cross(right, d)
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    px = np.stack([(v @ right / extent + 1.0) * 0.5 * size, (1.0 - v @ upv / extent) * 0.5 * size], -1)
    depth = v @ d
    tri = px[f]  # [F, 3, 2]
    lo = np.clip(np.floor(tri.min(1) - 0.5).astype(np.int64), 0, size - 1)
    hi = np.clip(np.ceil(tri.max(1) - 0.5).astype(np.int64), 0, size - 1)
    side = (hi - lo + 1).max(1)
    area = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
            - (tri[:, 1, 1] - tri[:, 0, 1]) * (tri[:, 2, 0] - tri[:, 0, 0]))
    pix, zs, fids, bs = [], [], [], []
    for k in np.unique(side):
        idx = np.nonzero((side == k) & (np.abs(area) > 1e-12))[0]
        for s in range(0, len(idx), max(1, (1 << 20) // int(k * k))):
            i = idx[s : s + max(1, (1 << 20) // int(k * k))]
            r = np.arange(k)
            ix = np.broadcast_to(lo[i, 0, None, None] + r[None, None, :], (len(i), k, k))
            iy = np.broadcast_to(lo[i, 1, None, None] + r[None, :, None], (len(i), k, k))
            cx, cy = ix + 0.5, iy + 0.5
            a, b, c = tri[i, 0], tri[i, 1], tri[i, 2]

            w = np.stack([_edge2(b, c, cx, cy), _edge2(c, a, cx, cy), _edge2(a, b, cx, cy)], -1)
            w = w / area[i, None, None, None]
            inside = (w >= -1e-9).all(-1) & (ix <= hi[i, 0, None, None]) & (iy <= hi[i, 1, None, None])
            z = (w * depth[f[i]][:, None, None, :]).sum(-1)
            sel = np.nonzero(inside)
            pix.append(iy[sel] * size + ix[sel])
            zs.append(z[sel])
            fids.append(i[sel[0]])
            bs.append(w[sel])
    face_id = np.full(size * size, -1, np.int64)
    bary = np.zeros((size * size, 3))
    if pix:
        pix, zs, fids, bs = map(np.concatenate, (pix, zs, fids, bs))
        order = np.lexsort((zs, pix))  # per pixel, nearest first
        first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
        face_id[pix[first]] = fids[first]
        bary[pix[first]] = bs[first]
    return face_id.reshape(size, size), bary.reshape(size, size, 3)


def render_normals(mesh: trimesh.Trimesh, direction: np.ndarray, up: np.ndarray, size: int = 128,
                   extent: float = 1.1, use_map: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Shading normals of ``mesh`` seen along ``direction`` (:func:`rasterize_view`, :func:`shading_normals`):
    ``(normals [size, size, 3], hit [size, size] bool)`` (CPU, for tests and measurements)."""
    face_id, bary = rasterize_view(mesh.vertices, mesh.faces, direction, up, size, extent)
    hit = face_id >= 0
    normals = np.zeros((size, size, 3))
    if hit.any():
        normals[hit] = shading_normals(mesh, face_id[hit], bary[hit], use_map)
    return normals, hit


def lambert(normals: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Lambert shading ``max(0, n . l)`` of ``normals [..., 3]`` under a directional ``light``."""
    return np.clip(normals @ _unit(np.asarray(light, np.float64)), 0.0, 1.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


__all__ = ["FLAT", "add_normal_map", "bake_normal_map", "closest_normals", "drop_normal_map", "lambert",
           "mesh_normals", "psnr", "rasterize_view", "render_normals", "shading_normals", "texel_frames", "vertex_tangents"]
