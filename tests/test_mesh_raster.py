"""The binned rasterizer against brute-force references, and its behaviour on bad input."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import Cameras, intrinsics_from_fov, look_at
from lift3d.renderers._mesh_raster import rasterize, rasterize_brute_force
from lift3d.renderers.mesh import MeshRendererConfig, render_mesh
from lift3d.scenes.mesh import Mesh


def _soup(n: int, seed: int, size: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random overlapping triangles around the origin (a triangle soup)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 1, 3, generator=g) * 1.6 - 0.8
    corners = centres + (torch.rand(n, 3, 3, generator=g) - 0.5) * size
    return corners.reshape(-1, 3), torch.arange(3 * n).reshape(n, 3)


def _cameras(width: int = 48, height: int = 40) -> Cameras:
    return Cameras.from_spherical(
        torch.tensor([15.0, -20.0, 60.0]), torch.tensor([0.0, 130.0, 250.0]), torch.tensor([3.0, 2.5, 3.5]), 45.0,
        width, height,
    )


def _ray_cast(vertices, faces, cameras):
    """Independent oracle: Moller-Trumbore ray/triangle tests of every pixel ray against every face."""
    origins, dirs = cameras.rays()
    B, H, W, _ = dirs.shape
    o, d = origins.reshape(B, -1, 1, 3).double(), dirs.reshape(B, -1, 1, 3).double()
    v = vertices.double()[faces]
    v0, e1, e2 = v[None, None, :, 0], v[None, None, :, 1] - v[None, None, :, 0], v[None, None, :, 2] - v[None, None, :, 0]
    pv = torch.linalg.cross(d.expand(-1, -1, faces.shape[0], -1), e2.expand(B, H * W, -1, -1))
    det = (e1 * pv).sum(-1)
    tv = o - v0
    u = (tv * pv).sum(-1) / det
    qv = torch.linalg.cross(tv, e1.expand_as(tv))
    w = (d * qv).sum(-1) / det
    t = (e2 * qv).sum(-1) / det
    hit = (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
    t = torch.where(hit, t, torch.full_like(t, float("inf")))
    best_t, best = t.min(-1)
    ids = torch.where(torch.isfinite(best_t), best, torch.full_like(best, -1))
    ub, wb = u.gather(-1, best[..., None])[..., 0], w.gather(-1, best[..., None])[..., 0]
    bary = torch.stack([1 - ub - wb, ub, wb], -1)
    return ids.view(B, H, W), bary.view(B, H, W, 3).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binned_matches_brute_force_exactly(seed: int) -> None:
    vertices, faces = _soup(150, seed)
    cams = _cameras()
    pix, z = cams.project(vertices)
    ours = rasterize(pix, z, faces, cams.width, cams.height, chunk=5000)  # small chunks: exercise the loop
    ref = rasterize_brute_force(pix, z, faces, cams.width, cams.height)
    assert (ours >= 0).float().mean() > 0.2
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("seed", [0, 3])
def test_face_ids_and_barycentrics_match_ray_casting(seed: int) -> None:
    vertices, faces = _soup(120, seed)
    cams = _cameras()
    out = render_mesh(vertices, faces, cams, config=MeshRendererConfig(antialias=False, near=1e-3))
    ids, bary = _ray_cast(vertices, faces, cams)
    ours = out.aux["face_ids"]
    agree = ours == ids
    assert agree.float().mean() > 0.995  # only pixel centres within float error of an edge may differ
    both = agree & (ids >= 0)
    torch.testing.assert_close(out.aux["barycentrics"][both], bary[both], atol=2e-4, rtol=0)
    # z-depth of the hit point: ray distance times the cosine to the optical axis
    assert (out.depth[..., 0][ids < 0] == 0).all()


def test_icosphere_depth_and_normals_match_analytic_sphere() -> None:
    mesh = Mesh.icosphere(4, radius=1.0)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([3.0]), 40.0, 32)
    out = render_mesh(mesh.vertices.detach(), mesh.faces, cams, config=MeshRendererConfig(antialias=False))
    origins, dirs = cams.rays()
    od = (origins * dirs).sum(-1)
    disc = od**2 - (origins.pow(2).sum(-1) - 1.0)
    inner = disc > 0.1  # stay clear of the silhouette, where tessellation moves the outline
    t = -od - disc.clamp_min(0).sqrt()
    hit = origins + t[..., None] * dirs
    forward = cams.c2w[:, None, None, :3, 2]
    z = ((hit - origins) * forward).sum(-1)
    assert inner.sum() > 200
    torch.testing.assert_close(out.depth[..., 0][inner], z[inner], atol=1e-2, rtol=0)
    cos = (out.normal[inner] * hit[inner]).sum(-1)
    assert cos.min() > 0.998


def test_batched_cameras_equal_single() -> None:
    vertices, faces = _soup(60, 5)
    cams = _cameras()
    pix, z = cams.project(vertices)
    together = rasterize(pix, z, faces, cams.width, cams.height)
    for b in range(len(cams)):
        alone = rasterize(pix[b : b + 1], z[b : b + 1], faces, cams.width, cams.height)
        assert torch.equal(together[b : b + 1], alone)


def test_empty_mesh_renders_background() -> None:
    cams = _cameras()
    out = render_mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), cams, background=(0.2, 0.3, 0.4))
    assert (out.alpha == 0).all() and (out.aux["face_ids"] == -1).all()
    assert torch.allclose(out.rgb, torch.tensor([0.2, 0.3, 0.4]).expand_as(out.rgb))
    with pytest.raises(ValueError, match="empty mesh"):
        Mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long))


def test_degenerate_faces_are_skipped() -> None:
    vertices, faces = _soup(40, 7)
    extra = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [0.3, 0.1, 0.2]])
    v = torch.cat([vertices, extra])
    n = vertices.shape[0]
    bad = torch.tensor([[n, n + 1, n + 2], [n + 3, n + 3, n + 3], [n, n, n + 1]])  # collinear, point, repeated
    cams = _cameras()
    out = render_mesh(v, torch.cat([faces, bad]), cams)
    ref = render_mesh(vertices, faces, cams)
    assert torch.equal(out.aux["face_ids"], ref.aux["face_ids"])
    assert torch.isfinite(out.rgb).all()


def test_non_finite_vertices_raise() -> None:
    vertices, faces = _soup(10, 0)
    vertices[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        render_mesh(vertices, faces, _cameras())
    with pytest.raises(ValueError, match="NaN or Inf"):
        Mesh(vertices, faces)


def test_camera_looking_away_sees_nothing() -> None:
    mesh = Mesh.icosphere(2)
    # Camera at +3X looking further along +X: the sphere is behind it.
    c2w = look_at(torch.tensor([[3.0, 0.0, 0.0]]), torch.tensor([[6.0, 0.0, 0.0]]))
    cams = Cameras(c2w, intrinsics_from_fov(40.0, 24, 24)[None], 24, 24)
    out = render_mesh(mesh.vertices.detach(), mesh.faces, cams, background=(0.0, 0.0, 0.0))
    assert (out.alpha == 0).all() and (out.rgb == 0).all() and torch.isfinite(out.rgb).all()


def test_camera_inside_mesh_culls_near_faces_without_nan() -> None:
    mesh = Mesh.icosphere(3, radius=1.0)
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.2]), 60.0, 24)
    out = render_mesh(mesh.vertices.detach(), mesh.faces, cams)
    assert torch.isfinite(out.rgb).all() and torch.isfinite(out.depth).all()
    assert out.alpha.mean() > 0.9  # the far side of the sphere fills the view


def test_backface_culling_keeps_the_front_surface() -> None:
    mesh = Mesh.icosphere(2)
    cams = Cameras.from_spherical(torch.tensor([10.0]), torch.tensor([40.0]), torch.tensor([3.0]), 40.0, 24)
    both = render_mesh(mesh.vertices.detach(), mesh.faces, cams, config=MeshRendererConfig(antialias=False))
    front = render_mesh(mesh.vertices.detach(), mesh.faces, cams,
                        config=MeshRendererConfig(antialias=False, cull_backfaces=True))
    assert torch.equal(both.aux["face_ids"], front.aux["face_ids"])
    inside_out = render_mesh(mesh.vertices.detach(), mesh.faces.flip(1), cams,
                             config=MeshRendererConfig(antialias=False, cull_backfaces=True))
    hit = both.alpha[..., 0] > 0
    far, near = inside_out.depth[hit], both.depth[hit]
    assert (far >= near - 1e-4).all() and (far - near).mean() > 1.0  # only the far side remains


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backends_match_torch_oracle() -> None:
    from lift3d.renderers._mesh_nvdiffrast import nvdiffrast_available

    mesh = Mesh.icosphere(3)
    cams = _cameras(64, 64)
    ref = render_mesh(mesh.vertices.detach(), mesh.faces, cams, config=MeshRendererConfig(backend="torch"))
    v, f, c = mesh.vertices.detach().cuda(), mesh.faces.cuda(), cams.to("cuda")
    ours_cuda = render_mesh(v, f, c, config=MeshRendererConfig(backend="torch"))
    assert torch.equal(ours_cuda.aux["face_ids"].cpu(), ref.aux["face_ids"])
    torch.testing.assert_close(ours_cuda.rgb.cpu(), ref.rgb, atol=1e-4, rtol=0)
    if nvdiffrast_available():
        nv = render_mesh(v, f, c, config=MeshRendererConfig(backend="cuda"))
        assert (nv.aux["face_ids"].cpu() == ref.aux["face_ids"]).float().mean() > 0.99
        assert (nv.rgb.cpu() - ref.rgb).abs().mean() < 1e-2


def _square() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A square in the x = 0 plane facing +X (the camera at azimuth 0), uv v up = world +Z up."""
    v = torch.tensor([[0.0, -0.8, -0.8], [0.0, 0.8, -0.8], [0.0, 0.8, 0.8], [0.0, -0.8, 0.8]])
    uv = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # seen from +X, +Y is image-right
    return v, torch.tensor([[0, 1, 2], [0, 2, 3]]), uv


def test_texture_orientation_top_row_is_v_one() -> None:
    v, f, uv = _square()
    texture = torch.zeros(4, 4, 3)
    texture[:2, :, 0] = 1.0  # top rows red
    texture[2:, :, 2] = 1.0  # bottom rows blue
    texture[:, :2, 1] = 1.0  # left columns (small u) get green
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([3.0]), 40.0, 32)
    out = render_mesh(v, f, cams, uv=uv, texture=texture, config=MeshRendererConfig(antialias=False))
    rgb = out.rgb[0]
    assert rgb[10, 16, 0] > 0.9 and rgb[10, 16, 2] < 0.1  # upper half of the image: red (v near 1)
    assert rgb[22, 16, 2] > 0.9 and rgb[22, 16, 0] < 0.1  # lower half: blue
    # u = 0 sits at world -Y, which the camera on +X sees on the image's left.
    assert rgb[16, 10, 1] > 0.9 and rgb[16, 22, 1] < 0.1


def test_lambert_shading_closed_form() -> None:
    v, f, _ = _square()
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([3.0]), 40.0, 24)
    albedo = torch.tensor([0.8, 0.5, 0.2])
    light = (1.0, 0.0, 1.0)
    cfg = MeshRendererConfig(shading="lambert", light_direction=light, ambient=0.25, diffuse=0.75, antialias=False)
    expected = albedo * (0.25 + 0.75 * (1.0 / 2**0.5))  # n = +X toward the camera, l = (1, 0, 1)/sqrt(2)
    for faces in (f, f.flip(1)):  # two-sided: the normal is turned toward the viewer either way
        out = render_mesh(v, faces, cams, colors=albedo.expand(4, 3), config=cfg)
        torch.testing.assert_close(out.rgb[0, 12, 12], expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.aux["albedo"][0, 12, 12], albedo, atol=1e-6, rtol=0)
