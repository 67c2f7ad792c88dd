"""The sphere tracer's outputs agree with the SDF, with an independent mesh projection and with closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.data import AMBIENT, FAMILIES, LIGHT_DIRECTION, procedural_object, render_object


def cameras(n: int = 4, size: int = 32) -> Cameras:
    g = torch.Generator().manual_seed(0)
    elev = torch.rand(n, generator=g) * 70 - 10
    azim = torch.rand(n, generator=g) * 360
    return Cameras.from_spherical(elev, azim, torch.full((n,), 2.75), 40.0, size)


def covers(tri: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Whether points ``p [F, P, 2]`` lie in triangles ``tri [F, 3, 2]`` (either winding) -> ``[F, P]``."""
    def edge(u, v):
        u, v = u[:, None], v[:, None]
        return (v[..., 0] - u[..., 0]) * (p[..., 1] - u[..., 1]) - (v[..., 1] - u[..., 1]) * (p[..., 0] - u[..., 0])

    s = torch.stack([edge(tri[:, 0], tri[:, 1]), edge(tri[:, 1], tri[:, 2]), edge(tri[:, 2], tri[:, 0])])
    return (s >= 0).all(0) | (s <= 0).all(0)


def mesh_silhouette(mesh, cams: Cameras) -> torch.Tensor:
    """``[B, H, W]`` pixel centres covered by a projected triangle of ``mesh`` (a tiny independent rasterizer)."""
    verts = torch.from_numpy(np.asarray(mesh.vertices)).float()
    uv, _ = cams.project(verts)
    tris_all = uv[:, torch.from_numpy(np.asarray(mesh.faces)).long()]  # [B, F, 3, 2]
    H, W, K = cams.height, cams.width, 6
    j, i = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    grid = torch.stack([i, j], -1).reshape(-1, 2)
    window = torch.stack(torch.meshgrid(torch.arange(K), torch.arange(K), indexing="xy"), -1).reshape(-1, 2)
    masks = []
    for tris in tris_all:
        mask = torch.zeros(H * W, dtype=torch.bool)
        lo, hi = tris.amin(1), tris.amax(1)
        small = ((hi - lo) < K - 1).all(-1)
        # Small triangles: test the pixel centres in a K x K window around each.
        pix = torch.floor(lo[small] - 0.5)[:, None] + window  # [f, K*K, 2] integer pixel indices
        hit = covers(tris[small], pix + 0.5)
        valid = hit & (pix[..., 0] >= 0) & (pix[..., 0] < W) & (pix[..., 1] >= 0) & (pix[..., 1] < H)
        flat = (pix[..., 1] * W + pix[..., 0]).long()
        mask[flat[valid]] = True
        # Large triangles: test every pixel centre.
        big = tris[~small]
        if big.shape[0]:
            mask |= covers(big, grid.expand(big.shape[0], -1, -1)).any(0)
        masks.append(mask.reshape(H, W))
    return torch.stack(masks)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_depth_normals_and_silhouette_match_the_geometry(family: str):
    obj = procedural_object(family, "blue", seed=2)
    cams = cameras(3)
    out = render_object(obj, cams, supersample=1)
    hit = out.alpha[..., 0] > 0.5
    assert hit.any() and (~hit).any()
    assert set(out.alpha.unique().tolist()) <= {0.0, 1.0}  # one ray per pixel: coverage is binary
    # Depth is on the SDF zero set: the ray point at that z-depth has |sdf| ~ 0.
    origins, dirs = cams.rays()
    forward = cams.c2w[:, None, None, :3, 2]
    t = out.depth[..., 0] / (dirs * forward).sum(-1)
    points = (origins + t[..., None] * dirs)[hit]
    assert obj.sdf(points).abs().max() < 1e-3
    assert (out.depth[~hit] == 0).all()
    # Normals are unit length and face the camera (a hit within eps of a sharp edge may take the
    # gradient of the hidden face: allow 1 % of such pixels).
    n = out.normal[hit]
    assert torch.allclose(n.norm(dim=-1), torch.ones(n.shape[0]), atol=1e-4)
    assert ((n * dirs[hit]).sum(-1) < 0.0).float().mean() > 0.99
    # Silhouette agrees with an independent projection of the mesh up to boundary pixels.
    sil = mesh_silhouette(obj.mesh(resolution=48), cams)
    disagree = (sil != hit).float().sum() / hit.float().sum()
    assert disagree < 0.06, disagree


def test_rgb_is_lambert_plus_ambient_over_the_background():
    obj = procedural_object("octahedron", "yellow", seed=0)
    cams = cameras(3)
    bg = torch.tensor([0.2, 0.5, 0.9])
    out = render_object(obj, cams, background=bg, supersample=1)
    hit = out.alpha[..., 0] > 0.5
    light = torch.nn.functional.normalize(torch.tensor(LIGHT_DIRECTION), dim=0)
    shade = AMBIENT + (1 - AMBIENT) * (out.normal[hit] @ light).clamp_min(0)
    assert torch.allclose(out.rgb[hit], torch.tensor(obj.rgb) * shade[:, None], atol=1e-5)
    assert torch.allclose(out.rgb[~hit], bg.expand_as(out.rgb[~hit]))
    assert torch.allclose(out.aux["albedo"][hit], torch.tensor(obj.rgb).expand(int(hit.sum()), 3))


def test_sphere_closed_forms():
    obj = procedural_object("sphere", "white", seed=0, extent=1.0)  # radius 0.5
    cams = Cameras.from_spherical(torch.tensor([0.0, 30.0]), torch.tensor([0.0, 120.0]), 2.75, 40.0, 33)
    out = render_object(obj, cams, supersample=1)
    # The centre pixel looks straight at the centre: depth = distance - radius, normal = -view direction.
    assert torch.allclose(out.depth[:, 16, 16, 0], torch.full((2,), 2.25), atol=1e-3)
    assert torch.allclose(out.normal[:, 16, 16], torch.nn.functional.normalize(cams.positions, dim=-1), atol=1e-3)
    # The silhouette is a disc of angular radius asin(r / d): compare pixel areas.
    focal = cams.K[0, 1, 1].item()
    radius_px = focal * np.tan(np.arcsin(0.5 / 2.75))
    coverage = render_object(obj, cams, supersample=4).alpha.sum(dim=(1, 2, 3))
    assert torch.allclose(coverage, torch.full((2,), np.pi * radius_px**2), rtol=0.02)


def test_supersampling_antialiases_edges_and_keeps_interiors():
    obj = procedural_object("cube", "red", seed=1)
    cams = cameras(2)
    ss = render_object(obj, cams, supersample=2)
    fine = render_object(obj, cams.resized(64), supersample=1)
    pooled = fine.alpha.reshape(2, 32, 2, 32, 2, 1).mean(dim=(2, 4))
    assert torch.allclose(ss.alpha, pooled)
    assert ((ss.alpha > 0) & (ss.alpha < 1)).any()
    full = ss.alpha[..., 0] == 1
    # Covered pixels average unit normals: length 1 on a face, less across an edge of the cube.
    lengths = ss.normal[full].norm(dim=-1)
    assert (lengths <= 1 + 1e-5).all() and (lengths > 0.5).all() and (lengths > 1 - 1e-4).float().mean() > 0.8


def test_renders_are_deterministic():
    obj = procedural_object("mushroom", "brown", seed=5)
    a, b = render_object(obj, cameras(2)), render_object(obj, cameras(2))
    for x, y in ((a.rgb, b.rgb), (a.alpha, b.alpha), (a.depth, b.depth), (a.normal, b.normal)):
        assert x.numpy().tobytes() == y.numpy().tobytes()


def test_invalid_supersample_raises():
    with pytest.raises(ValueError, match="supersample"):
        render_object(procedural_object("cube", "red"), cameras(1), supersample=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_matches_cpu():
    obj = procedural_object("snowman", "white", seed=4)
    cams = cameras(4)
    cpu = render_object(obj, cams)
    gpu = render_object(obj, cams.to("cuda"))
    assert gpu.rgb.device.type == "cuda"
    assert (gpu.alpha.cpu() - cpu.alpha).abs().mean() < 1e-3
    assert (gpu.rgb.cpu() - cpu.rgb).abs().mean() < 1e-3
