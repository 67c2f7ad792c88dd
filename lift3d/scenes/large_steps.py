"""Large-step vertex updates: "Large Steps in Inverse Rendering of Geometry" (Nicolet, Jacobson and Jakob,
ACM TOG 40(6), SIGGRAPH Asia 2021, doi:10.1145/3478513.3480501).

Gradient steps on raw vertex positions move each vertex on its own: a noisy loss such as score distillation
leaves a fine ripple that silhouettes do not see (``lift3d eval``'s lumpiness). The paper optimizes
``u = (I + lambda L) x`` instead, ``L`` the mesh Laplacian, and maps back with ``x = (I + lambda L)^-1 u``: a
gradient step on ``u`` becomes a step on ``x`` preconditioned by ``(I + lambda L)^-2``, a smooth, low-frequency
displacement, so large shape changes stay clean.

Here the optimized tensor is the *displacement's* differential coordinates (the mesh's ``offsets``, starting at
0, so the starting mesh is exactly the input): ``vertices = base + (I + lambda L)^-1 offsets``. With the uniform
(combinatorial) Laplacian the matrix depends only on the faces, so rescaling a mesh scales base and offsets alike.
The sparse Cholesky solve and its adjoint are the paper authors' ``largesteps`` package (``from_differential``,
CHOLMOD through ``cholespy`` on CPU and CUDA); only the matrix is built here, because
``largesteps.geometry.compute_matrix`` allocates on ``device='cuda'`` and cannot run on a CPU-only machine.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LargeSteps:
    """``refine.scene.large-steps:large-steps --refine.scene.large-steps.strength 19``: vertex offsets in the paper's differential parameterization."""

    strength: float = 19.0
    """Smoothing strength ``lambda`` of ``I + lambda L`` (the paper's examples use 10-100; 0 = plain offsets)."""


def smoothing_matrix(faces: torch.Tensor, num_vertices: int, lambda_: float) -> torch.Tensor:
    """``I + lambda_ L`` as a coalesced sparse COO float32 matrix on ``faces``' device, ``L`` the uniform
    Laplacian (degree on the diagonal, -1 per edge), as ``largesteps.geometry.laplacian_uniform``."""
    device = faces.device
    ii = faces[:, [1, 2, 0]].reshape(-1)
    jj = faces[:, [2, 0, 1]].reshape(-1)
    edges = torch.stack([torch.cat([ii, jj]), torch.cat([jj, ii])]).unique(dim=1)
    diag = torch.arange(num_vertices, device=device)
    degree = torch.zeros(num_vertices, device=device).index_add_(0, edges[0], torch.ones(edges.shape[1], device=device))
    index = torch.cat([edges, torch.stack([diag, diag])], 1)
    values = torch.cat([torch.full((edges.shape[1],), -lambda_, device=device), 1.0 + lambda_ * degree])
    return torch.sparse_coo_tensor(index, values, (num_vertices, num_vertices), check_invariants=True).coalesce()


class DifferentialSolve:
    """``u -> (I + lambda L)^-1 u`` for one mesh, differentiable (the factorization is made once and cached by
    ``largesteps`` for as long as this object holds the matrix)."""

    def __init__(self, faces: torch.Tensor, num_vertices: int, lambda_: float) -> None:
        self.matrix = smoothing_matrix(faces, num_vertices, lambda_)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        from largesteps.parameterize import from_differential

        return from_differential(self.matrix, u.contiguous(), "Cholesky")


def _release_solvers() -> None:
    """Drop ``largesteps``' cached factorizations before the interpreter tears down (else nanobind reports the
    cholespy solvers as leaked on stderr at every exit); nothing to do when they were never imported."""
    import sys

    parameterize = sys.modules.get("largesteps.parameterize")
    if parameterize is not None:
        parameterize._cache.clear()


atexit.register(_release_solvers)
