"""Gradients of the mesh renderer: silhouette edges move vertices; the soft silhouette is exact to FD."""

from __future__ import annotations

import torch

from lift3d.cameras import Cameras
from lift3d.renderers.mesh import MeshRendererConfig, render_mesh
from lift3d.scenes.mesh import Mesh


def _camera(size: int = 40, dtype=torch.float32) -> Cameras:
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([3.0]), 40.0, size)
    return cams.to("cpu", dtype)


def _triangle(dtype=torch.float32) -> torch.Tensor:
    # In the YZ plane facing the camera on +X.
    return torch.tensor([[0.0, -0.6, -0.5], [0.0, 0.7, -0.3], [0.0, 0.1, 0.65]], dtype=dtype)


def test_uniform_triangle_gets_gradients_only_from_its_silhouette() -> None:
    faces = torch.tensor([[0, 1, 2]])
    colors = torch.full((3, 3), 0.2)
    cams = _camera()
    grads = {}
    for aa in (False, True):
        v = _triangle().requires_grad_(True)
        out = render_mesh(v, faces, cams, colors=colors, config=MeshRendererConfig(antialias=aa))
        out.rgb.mean().backward()
        grads[aa] = v.grad
    assert grads[False].abs().max() < 1e-8  # flat colour: interior barycentrics carry no signal
    g = grads[True]
    assert (g[:, 1:].norm(dim=-1) > 0).all()  # every vertex moves in the image plane
    # Dark triangle on white: growing it lowers the mean, so each vertex is pushed outward.
    centroid = _triangle().mean(0)
    outward = _triangle() - centroid
    assert ((g * outward).sum(-1) < 0).all()


def test_antialiased_coverage_matches_projected_area_and_its_gradient() -> None:
    faces = torch.tensor([[0, 1, 2]])
    cams = _camera(64)
    v = _triangle().requires_grad_(True)
    out = render_mesh(v, faces, cams)
    coverage = out.alpha.sum()
    coverage.backward()
    g_ours = v.grad.clone()
    v.grad = None
    pix, _ = cams.project(v)
    e1, e2 = pix[0, 1] - pix[0, 0], pix[0, 2] - pix[0, 0]
    area = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0]).abs()
    area.backward()
    assert abs(coverage.item() - area.item()) < 0.01 * area.item()
    rel = (g_ours - v.grad).norm() / v.grad.norm()
    assert rel < 0.1, rel


def test_soft_silhouette_matches_finite_differences() -> None:
    dtype = torch.float64
    mesh = Mesh.icosphere(1, radius=0.8)
    base = mesh.vertices.detach().to(dtype)
    g = torch.Generator().manual_seed(0)
    base = base + 0.05 * torch.randn(base.shape, generator=g, dtype=dtype)
    colors = torch.rand(base.shape, generator=g, dtype=dtype)
    cams = _camera(32, dtype)
    weights = torch.rand(1, 32, 32, 4, generator=g, dtype=dtype)

    def loss(v: torch.Tensor) -> torch.Tensor:
        out = render_mesh(v, mesh.faces, cams, colors=colors, background=(1.0, 1.0, 1.0))
        return (torch.cat([out.rgb, out.alpha], -1) * weights).sum()

    v = base.clone().requires_grad_(True)
    loss(v).backward()
    # Silhouette vertices: the analytic gradient must match central differences.
    pix, _ = cams.project(base)
    radius = (pix[0] - pix[0].mean(0)).norm(dim=-1)
    rim = torch.topk(radius, 6).indices
    eps = 1e-6
    checked = 0
    for i in rim.tolist():
        for c in range(3):
            d = torch.zeros_like(base)
            d[i, c] = eps
            fd = (loss(base + d) - loss(base - d)) / (2 * eps)
            torch.testing.assert_close(v.grad[i, c], fd, atol=1e-4 * max(1.0, fd.abs().item()), rtol=1e-4)
            checked += fd.abs().item() > 1e-3
    assert checked >= 6  # most of these derivatives are genuinely non-zero
