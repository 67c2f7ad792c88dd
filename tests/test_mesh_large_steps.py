"""Large-step vertex parameterization (Nicolet et al. 2021): the exact linear maps, and what it is for."""

from __future__ import annotations

import torch
import trimesh

from lift3d.rigs.mesh import MeshRig, MeshScene
from lift3d.scenes.large_steps import DifferentialSolve, LargeSteps, smoothing_matrix
from lift3d.scenes.mesh import Mesh


def icosphere(subdivisions: int = 3) -> Mesh:
    return Mesh.icosphere(subdivisions)


def test_matrix_is_identity_plus_lambda_uniform_laplacian() -> None:
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    m = smoothing_matrix(faces, 4, 2.0).to_dense()
    degree = torch.tensor([3.0, 2.0, 3.0, 2.0])
    adjacency = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.float32)
    torch.testing.assert_close(m, torch.eye(4) + 2.0 * (torch.diag(degree) - adjacency))


def test_solve_and_its_gradient_are_the_inverse() -> None:
    mesh = icosphere(2)
    solve = DifferentialSolve(mesh.faces, len(mesh.base_vertices), 19.0)
    dense = solve.matrix.to_dense().double()
    u = torch.randn(len(mesh.base_vertices), 3, requires_grad=True)
    x = solve(u)
    torch.testing.assert_close((dense @ x.double()).float(), u.detach(), atol=1e-4, rtol=0)
    g = torch.randn_like(x)
    x.backward(g)
    torch.testing.assert_close(u.grad.double(), torch.linalg.solve(dense, g.double()), atol=1e-4, rtol=0)


def test_rig_starts_at_the_input_and_rescales_linearly() -> None:
    scene = icosphere(2)
    base = scene.base_vertices.clone()
    rig = MeshRig(MeshScene(large_steps=LargeSteps(10.0)), scene)
    torch.testing.assert_close(rig.scene.vertices, base)
    with torch.no_grad():
        rig.scene.offsets.normal_()
    moved = rig.scene.vertices.detach().clone()
    rig.rescale(torch.zeros(3), 2.0)
    torch.testing.assert_close(rig.scene.vertices, 2.0 * moved, atol=1e-5, rtol=0)


def test_a_noisy_gradient_step_leaves_a_smooth_displacement() -> None:
    """The point of the method: the same per-vertex noise moves vertices far less jaggedly. Measured as the
    Laplacian energy of the displacement per unit displacement, after one step of plain SGD of equal size."""
    torch.manual_seed(0)
    noise = torch.randn(len(icosphere(3).base_vertices), 3)
    roughness = {}
    for name, spec in (("plain", MeshScene()), ("large", MeshScene(large_steps=LargeSteps(19.0)))):
        rig = MeshRig(spec, icosphere(3))
        (rig.scene.vertices * noise).sum().backward()
        with torch.no_grad():
            rig.scene.offsets.sub_(rig.scene.offsets.grad)
            d = rig.scene.vertices - rig.scene.base_vertices
            lap = smoothing_matrix(rig.scene.faces, len(d), 1.0).to_dense() - torch.eye(len(d))
            roughness[name] = float((lap @ d).norm() / d.norm())
    assert roughness["large"] < 0.2 * roughness["plain"], roughness


def test_exported_mesh_is_the_displaced_one() -> None:
    rig = MeshRig(MeshScene(large_steps=LargeSteps()), icosphere(1))
    with torch.no_grad():
        rig.scene.offsets.fill_(0.05)
    out = rig.mesh()
    assert isinstance(out, trimesh.Trimesh)
    torch.testing.assert_close(torch.as_tensor(out.vertices, dtype=torch.float32), rig.scene.vertices.detach())
