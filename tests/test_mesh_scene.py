"""Mesh scene (trimesh round trips, normals, adjacency) and regularizers against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from lift3d.scenes.mesh import Mesh, face_neighbors, vertex_normals
from lift3d.scenes.mesh_regularizers import (
    boundary_vertices,
    laplacian,
    laplacian_smoothing_loss,
    normal_consistency_loss,
)


def _grid(n: int = 6, jitter: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat ``n x n`` vertex grid in the z = 0.3 plane, each quad split along the same diagonal."""
    ys, xs = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    v = torch.stack([xs, ys, torch.full_like(xs, 0.3)], -1).reshape(-1, 3)
    if jitter:
        g = torch.Generator().manual_seed(seed)
        v[:, :2] += jitter * (torch.rand(v.shape[0], 2, generator=g, dtype=torch.float64) - 0.5)
    idx = torch.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = torch.cat([torch.stack([a, b, d], -1).reshape(-1, 3), torch.stack([a, d, c], -1).reshape(-1, 3)])
    return v, faces


def _icosahedron() -> tuple[torch.Tensor, torch.Tensor]:
    ico = trimesh.creation.icosahedron()
    v = torch.from_numpy(np.asarray(ico.vertices))
    return v / v.norm(dim=-1, keepdim=True), torch.from_numpy(np.asarray(ico.faces))


@pytest.mark.parametrize("kind", ["uniform", "cotangent"])
def test_laplacian_of_flat_regular_grid_is_zero_inside(kind: str) -> None:
    v, f = _grid()
    lap = laplacian(v, f, kind)
    inner = ~boundary_vertices(f, v.shape[0])
    assert inner.sum() == 16
    assert lap[inner].abs().max() < 1e-12
    assert lap[~inner].abs().max() > 0.1  # boundary vertices are not zero, hence the option below
    assert laplacian_smoothing_loss(v, f, kind, exclude_boundary=True).item() < 1e-24


def test_cotangent_laplacian_vanishes_on_any_planar_mesh_but_uniform_does_not() -> None:
    v, f = _grid(jitter=0.4)
    inner = ~boundary_vertices(f, v.shape[0])
    assert laplacian(v, f, "cotangent")[inner].abs().max() < 1e-10
    assert laplacian(v, f, "uniform")[inner].abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["uniform", "cotangent"])
def test_laplacian_of_icosahedron_is_radial_closed_form(kind: str) -> None:
    v, f = _icosahedron()
    # The 5 neighbours of a unit-circumradius icosahedron vertex have mean v / sqrt(5).
    expected = v * (1.0 - 1.0 / math.sqrt(5.0))
    torch.testing.assert_close(laplacian(v, f, kind), expected, atol=1e-12, rtol=0)
    loss = laplacian_smoothing_loss(v, f, kind)
    assert loss.item() == pytest.approx((1.0 - 1.0 / math.sqrt(5.0)) ** 2, rel=1e-12)


def test_normal_consistency_closed_forms() -> None:
    v, f = _grid(jitter=0.3)
    assert normal_consistency_loss(v, f).item() < 1e-12
    box = trimesh.creation.box()
    # 18 edges: 6 face diagonals between coplanar triangles (0) and 12 cube edges at 90 degrees (1).
    loss = normal_consistency_loss(torch.from_numpy(np.asarray(box.vertices)), torch.from_numpy(np.asarray(box.faces)))
    assert loss.item() == pytest.approx(12.0 / 18.0, rel=1e-12)
    v, f = _icosahedron()
    # Adjacent icosahedron face normals meet at arccos(sqrt(5) / 3).
    assert normal_consistency_loss(v, f).item() == pytest.approx(1.0 - math.sqrt(5.0) / 3.0, rel=1e-12)


def test_regularizers_have_gradients() -> None:
    mesh = Mesh.icosphere(2)
    with torch.no_grad():
        mesh.offsets.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(0))
    loss = laplacian_smoothing_loss(mesh.vertices, mesh.faces) + normal_consistency_loss(
        mesh.vertices, mesh.faces, mesh.neighbors
    )
    loss.backward()
    assert mesh.offsets.grad.abs().sum() > 0


def test_face_neighbors_of_closed_mesh() -> None:
    mesh = Mesh.icosphere(2)
    nb = mesh.neighbors
    assert (nb >= 0).all()
    f = torch.arange(nb.shape[0])[:, None].expand_as(nb)
    # symmetric: my neighbour lists me
    assert (nb[nb] == f[:, :, None]).any(-1).all()
    # and really shares the edge
    a, b = mesh.faces, mesh.faces.roll(-1, 1)
    for k in range(3):
        shared = (mesh.faces[nb[:, k]] == a[:, k : k + 1]).any(-1) & (mesh.faces[nb[:, k]] == b[:, k : k + 1]).any(-1)
        assert shared.all()
    open_nb = face_neighbors(torch.tensor([[0, 1, 2]]))
    assert (open_nb == -1).all()


def test_vertex_normals_of_icosphere_are_radial() -> None:
    mesh = Mesh.icosphere(3)
    n = mesh.vertex_normals()
    v = mesh.vertices.detach()
    cos = (n * v / v.norm(dim=-1, keepdim=True)).sum(-1)
    assert cos.min() > 0.999
    # Degenerate faces contribute nothing; isolated vertices get a zero normal, not NaN.
    extra = torch.cat([v, torch.zeros(1, 3)])
    n2 = vertex_normals(extra, torch.cat([mesh.faces, torch.tensor([[0, 0, 1]])]))
    assert torch.isfinite(n2).all() and n2[-1].abs().sum() == 0


def test_trimesh_round_trip_vertex_colours() -> None:
    tm = trimesh.creation.icosphere(2)
    rgba = np.random.default_rng(0).integers(0, 256, (len(tm.vertices), 4), dtype=np.uint8)
    tm.visual.vertex_colors = rgba
    mesh = Mesh.from_trimesh(tm)
    assert mesh.color_mode == "vertex"
    back = mesh.to_trimesh()
    np.testing.assert_allclose(back.vertices, tm.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, tm.faces)
    np.testing.assert_array_equal(back.visual.vertex_colors[:, :3], rgba[:, :3])


def test_trimesh_round_trip_texture() -> None:
    from PIL import Image

    tm = trimesh.creation.box()
    uv = np.random.default_rng(1).random((len(tm.vertices), 2))
    img = np.random.default_rng(2).integers(0, 256, (8, 16, 3), dtype=np.uint8)
    tm.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(img))
    mesh = Mesh.from_trimesh(tm)
    assert mesh.color_mode == "texture" and mesh.texture.shape == (8, 16, 3)
    back = mesh.to_trimesh()
    np.testing.assert_allclose(back.visual.uv, uv, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(back.visual.material.image.convert("RGB")), img)
    assert len(mesh.param_groups()) == 2
    assert Mesh.from_trimesh(tm, color_mode="vertex").color_mode == "vertex"


def test_bad_meshes_raise_clear_errors() -> None:
    v = torch.rand(4, 3)
    with pytest.raises(ValueError, match="face indices"):
        Mesh(v, torch.tensor([[0, 1, 4]]))
    with pytest.raises(ValueError, match="triangles"):
        Mesh(v, torch.tensor([[0, 1, 2, 3]]))
    with pytest.raises(ValueError, match="both uv"):
        Mesh(v, torch.tensor([[0, 1, 2]]), uv=torch.rand(4, 2))
    with pytest.raises(ValueError, match="no uv"):
        Mesh.from_trimesh(trimesh.creation.box(), color_mode="texture")


@pytest.mark.parametrize("textured", [False, True])
def test_glb_round_trip(textured: bool) -> None:
    import io

    g = torch.Generator().manual_seed(0)
    v, f = torch.rand(4, 3, generator=g), torch.tensor([[0, 1, 2], [0, 2, 3]])
    if textured:
        mesh = Mesh(v, f, uv=torch.rand(4, 2, generator=g), texture=torch.rand(8, 8, 3, generator=g))
    else:
        mesh = Mesh(v, f, colors=torch.rand(4, 3, generator=g))
    data = mesh.to_trimesh().export(file_type="glb")
    back = Mesh.from_trimesh(trimesh.load(io.BytesIO(data), file_type="glb", force="mesh"))
    assert back.color_mode == mesh.color_mode
    torch.testing.assert_close(back.vertices, mesh.vertices, atol=1e-6, rtol=0)
    if textured:
        torch.testing.assert_close(back.uv, mesh.uv, atol=1e-6, rtol=0)
        assert (back.texture_image() - mesh.texture_image()).abs().max() <= 0.5 / 255 + 1e-6
    else:
        assert (back.vertex_colors() - mesh.vertex_colors()).abs().max() <= 0.5 / 255 + 1e-6


def test_texture_levels_start_at_the_texture_and_share_colour() -> None:
    """A texture with coarser levels starts as the given image; one pixel's gradient reaches the coarse levels,
    which change the colour of a whole region at once; the levels survive a state round trip."""
    sphere = trimesh.creation.icosphere(1)
    uv = torch.rand(len(sphere.vertices), 2)
    texture = torch.rand(32, 32, 3)
    mesh = Mesh(torch.from_numpy(sphere.vertices), torch.from_numpy(sphere.faces), uv=uv, texture=texture,
                texture_levels=4)
    assert [tuple(p.shape) for p in mesh.texture_coarse] == [(16, 16, 3), (8, 8, 3), (4, 4, 3)]
    torch.testing.assert_close(mesh.texture_image(), texture.clamp(0, 1))
    mesh.texture_image()[5, 7].sum().backward()
    assert mesh.texture.grad.count_nonzero() == 3  # one texel of the finest level
    assert all(p.grad.abs().sum() > 0 for p in mesh.texture_coarse)
    with torch.no_grad():
        mesh.texture_coarse[2].fill_(0.1)  # the coarsest level shifts every texel
        mesh.texture.copy_(texture.clamp(0, 0.8))
    torch.testing.assert_close(mesh.texture_image(), (texture.clamp(0, 0.8) + 0.1).clamp(0, 1))
    again = Mesh(torch.from_numpy(sphere.vertices), torch.from_numpy(sphere.faces), uv=uv, texture=texture,
                 texture_levels=4)
    again.load_state_dict(mesh.state_dict())
    torch.testing.assert_close(again.texture_image(), mesh.texture_image())
    assert len(Mesh(torch.from_numpy(sphere.vertices), torch.from_numpy(sphere.faces), uv=uv,
                    texture=torch.rand(8, 8, 3), texture_levels=7).texture_coarse) == 1  # 4x4 once, no repeats
