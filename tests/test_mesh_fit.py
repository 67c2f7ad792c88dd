"""Fitting meshes to images through the differentiable rasterizer (vertex colours + offsets, textures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.data import procedural_object, render_object
from lift3d.renderers.mesh import MeshRenderer, MeshRendererConfig
from lift3d.scenes.mesh import Mesh
from lift3d.scenes.mesh_regularizers import laplacian, laplacian_smoothing_loss, normal_consistency_loss


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small tensors: one thread is fastest and immune to oversubscription on shared runners."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (-10.0 * torch.log10(((a - b) ** 2).mean())).item()


def _orbit(azimuths: list[float], elevations: list[float], size: int) -> Cameras:
    n = len(azimuths)
    return Cameras.from_spherical(torch.tensor(elevations), torch.tensor(azimuths), torch.full((n,), 2.6), 40.0, size)


def test_vertex_colour_mesh_fits_procedural_object_on_held_out_views(one_thread) -> None:
    obj = procedural_object("torus", "red", seed=0)
    train = _orbit([0.0, 45, 90, 135, 180, 225, 270, 315], [20.0, -10, 35, 0, 20, -10, 35, 0], 64)
    test = _orbit([22.5, 112.5, 202.5, 292.5], [10.0, 25, -5, 40], 64)
    target_train, target_test = render_object(obj, train).rgb, render_object(obj, test).rgb
    # Fixed topology from the object's (marching-cubes) mesh; colour starts grey, offsets at zero.
    mesh = Mesh.from_trimesh(obj.mesh(32))
    with torch.no_grad():
        mesh.colors.fill_(0.5)
    renderer = MeshRenderer(MeshRendererConfig(shading="albedo"))  # bakes the Lambert shading into colours
    with torch.no_grad():
        before = _psnr(renderer(mesh, test).rgb, target_test)
    opt = torch.optim.Adam(mesh.param_groups(lr_vertices=1e-3, lr_color=5e-2))
    for _ in range(80):
        out = renderer(mesh, train)
        loss = ((out.rgb - target_train) ** 2).mean()
        loss = loss + 0.1 * laplacian_smoothing_loss(mesh.vertices, mesh.faces)
        loss = loss + laplacian(mesh.colors, mesh.faces).pow(2).sum(-1).mean()  # spread colour to unseen vertices
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = _psnr(renderer(mesh, test).rgb, target_test)
    assert before < 20.0
    assert after >= 26.0, f"held-out PSNR {after:.2f} dB (before {before:.2f} dB)"
    assert mesh.offsets.abs().max() > 0  # geometry moved too


def test_icosphere_deforms_to_procedural_ellipsoid_from_silhouettes(one_thread) -> None:
    # Geometry must come from the images: a small sphere grows into the ellipsoid through the
    # antialiased silhouette gradients (Magic3D-style fixed-topology refinement).
    obj = procedural_object("ellipsoid", "blue", seed=0)
    train = _orbit([0.0, 45, 90, 135, 180, 225, 270, 315], [20.0, -10, 35, 0, 20, -10, 35, 0], 64)
    test = _orbit([22.5, 112.5, 202.5, 292.5], [10.0, 25, -5, 40], 64)
    target, target_test = render_object(obj, train), render_object(obj, test).rgb
    mesh = Mesh.icosphere(3, radius=0.5)
    with torch.no_grad():
        mesh.colors.fill_(0.5)
    renderer = MeshRenderer()
    with torch.no_grad():
        before = _psnr(renderer(mesh, test).rgb, target_test)
    opt = torch.optim.Adam(mesh.param_groups(lr_vertices=1e-2, lr_color=5e-2))
    for _ in range(100):
        out = renderer(mesh, train)
        loss = ((out.rgb - target.rgb) ** 2).mean() + ((out.alpha - target.alpha) ** 2).mean()
        loss = loss + laplacian_smoothing_loss(mesh.vertices, mesh.faces)
        loss = loss + 0.01 * normal_consistency_loss(mesh.vertices, mesh.faces, mesh.neighbors)
        loss = loss + laplacian(mesh.colors, mesh.faces).pow(2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = _psnr(renderer(mesh, test).rgb, target_test)
    assert before < 16.0
    assert after >= 26.0, f"held-out PSNR {after:.2f} dB (before {before:.2f} dB)"


def test_texture_fits_from_scratch(one_thread) -> None:
    # A textured square facing the cameras; the target is rendered from a random texture.
    vertices = torch.tensor([[0.0, -0.8, -0.8], [0.0, 0.8, -0.8], [0.0, 0.8, 0.8], [0.0, -0.8, 0.8]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    uv = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    g = torch.Generator().manual_seed(0)
    true_texture = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(16, 16),
                                                   mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    cams = Cameras.from_spherical(torch.tensor([0.0, 15.0, -15.0]), torch.tensor([0.0, 20.0, -25.0]),
                                  torch.full((3,), 3.0), 40.0, 48)
    renderer = MeshRenderer()
    with torch.no_grad():
        target = renderer(Mesh(vertices, faces, uv=uv, texture=true_texture), cams).rgb
    mesh = Mesh(vertices, faces, uv=uv, texture=torch.full((16, 16, 3), 0.5), optimize_vertices=False)
    opt = torch.optim.Adam(mesh.param_groups(lr_color=5e-2))
    for _ in range(150):
        loss = ((renderer(mesh, cams).rgb - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert _psnr(renderer(mesh, cams).rgb, target) > 35.0
        # The texture itself is recovered (texels are all seen at this resolution).
        assert (mesh.texture_image() - true_texture).abs().mean() < 0.03
