"""Read and write :class:`~lift3d.scenes.gaussians.Gaussians` in the standard 3DGS .ply layout.

The layout of the reference implementation of "3D Gaussian Splatting" (arXiv 2308.04079), read by
most splat viewers: one binary little-endian ``vertex`` element with float properties
``x y z nx ny nz f_dc_0..2 f_rest_0..M opacity scale_0..2 rot_0..3``, where ``f_rest`` is stored
channel-major (all red coefficients, then green, then blue), ``opacity`` is a logit, ``scale_*``
are log-scales and ``rot_*`` a ``(w, x, y, z)`` quaternion. Positions are written in lift3d's world
frame (+Z up) unchanged; converting to a viewer's axis convention is the exporter's job.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from lift3d.scenes.gaussians import Gaussians


def ply_property_names(sh_degree: int) -> list[str]:
    """The ordered 3DGS property names for SH degree ``sh_degree``."""
    rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


@torch.no_grad()
def save_ply(scene: Gaussians, path: str | Path) -> Path:
    """Write ``scene`` (all SH degrees it stores) to ``path``; returns the path."""
    scene.validate()
    p = {k: v.detach().cpu().float() for k, v in scene.params.items()}
    n = len(scene)
    columns = [
        p["means"],
        torch.zeros(n, 3),
        p["sh0"].reshape(n, 3),
        p["shN"].transpose(1, 2).reshape(n, -1),
        p["opacities"][:, None],
        p["scales"].expand(n, 3),
        p["quats"],
    ]
    data = torch.cat(columns, dim=1).numpy()
    names = ply_property_names(scene.max_sh_degree)
    vertex = np.empty(n, dtype=[(name, "f4") for name in names])
    for i, name in enumerate(names):
        vertex[name] = data[:, i]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))
    return path


def load_ply(path: str | Path, isotropic: bool = False) -> Gaussians:
    """Read a 3DGS .ply (SH degree inferred from the ``f_rest_*`` count).

    Args:
        path: file to read.
        isotropic: keep one scale per Gaussian (``scale_0``) and freeze rotations.

    Raises:
        ValueError: the file is not a 3DGS splat file (missing properties or odd ``f_rest`` count).
    """
    ply = PlyData.read(str(path))
    if "vertex" not in ply:
        raise ValueError(f"{path}: no 'vertex' element; not a 3DGS .ply")
    v = ply["vertex"].data
    names = v.dtype.names
    n_rest = sum(1 for name in names if name.startswith("f_rest_"))
    degree = math.isqrt(n_rest // 3 + 1) - 1
    if n_rest % 3 or (degree + 1) ** 2 - 1 != n_rest // 3:
        raise ValueError(f"{path}: {n_rest} f_rest_* properties is not 3 * ((d + 1)^2 - 1) for an SH degree d")
    missing = [name for name in ply_property_names(degree) if name not in names and name[0] != "n"]
    if missing:
        raise ValueError(f"{path}: missing 3DGS properties {missing}")

    n = len(v)

    def cols(keys: list[str]) -> torch.Tensor:
        if not keys:
            return torch.zeros(n, 0)
        return torch.from_numpy(np.stack([np.asarray(v[k], dtype=np.float32) for k in keys], axis=1))

    scales = cols(["scale_0"] if isotropic else ["scale_0", "scale_1", "scale_2"])
    rest = cols([f"f_rest_{i}" for i in range(n_rest)]).reshape(n, 3, -1).transpose(1, 2)
    return Gaussians(
        means=cols(["x", "y", "z"]),
        quats=cols(["rot_0", "rot_1", "rot_2", "rot_3"]),
        log_scales=scales,
        opacity_logits=cols(["opacity"])[:, 0],
        sh0=cols(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None, :],
        shN=rest.contiguous(),
        isotropic=isotropic,
    )
