"""Read and write :class:`~lift3d.scenes.gaussians.Gaussians` in the standard 3DGS .ply layout.

The layout of the reference implementation of "3D Gaussian Splatting" (arXiv 2308.04079), read by
most splat viewers: one binary little-endian ``vertex`` element with float properties
``x y z nx ny nz f_dc_0..2 f_rest_0..M opacity scale_0..2 rot_0..3``, where ``f_rest`` is stored
channel-major (all red coefficients, then green, then blue), ``opacity`` is a logit, ``scale_*``
are log-scales and ``rot_*`` a ``(w, x, y, z)`` quaternion. Positions are written in lift3d's world
frame (+Z up) unchanged; converting to a viewer's axis convention is the exporter's job.

Reading validates (:func:`check_gaussians`, shared with :mod:`lift3d.export.splats`): a file with no
Gaussians, or with Gaussians whose values are NaN/inf or whose quaternion has zero length, is refused
with one line saying how many and what to do (``drop_invalid=True`` skips them with a warning instead).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError

ZERO_QUATERNION = 1e-12
"""Quaternions shorter than this cannot be normalised (``torch.nn.functional.normalize``'s eps)."""


class SplatFileError(LiftError, ValueError):
    """A splat file that cannot be used: empty, corrupt, or holding NaN/inf or zero-length-quaternion Gaussians.

    A :class:`~lift3d.types.LiftError` (the CLI prints it as one line) and a ``ValueError`` (what
    :func:`load_ply` raised before it validated values).
    """


def invalid_gaussians(means: torch.Tensor, quats: torch.Tensor, log_scales: torch.Tensor,
                      opacity_logits: torch.Tensor, colours: torch.Tensor) -> dict[str, torch.Tensor]:
    """Boolean masks ``[N]`` of the Gaussians that cannot be rendered or exported, by what is wrong.

    Args:
        means: ``[N, 3]``; quats: ``[N, 4]``; log_scales: ``[N, S]``; opacity_logits: ``[N]``;
        colours: ``[N, ...]`` SH coefficients (any trailing shape).
    """
    n = means.shape[0]

    def nonfinite(t: torch.Tensor) -> torch.Tensor:
        return ~torch.isfinite(t.reshape(n, -1)).all(-1)

    bad_quat = nonfinite(quats)
    return {
        "non-finite positions": nonfinite(means),
        "non-finite scales": nonfinite(log_scales),
        "non-finite rotations": bad_quat,
        "zero-length rotation quaternions": ~bad_quat & (quats.double().norm(dim=-1) < ZERO_QUATERNION),
        "non-finite opacities": nonfinite(opacity_logits),
        "non-finite colours": nonfinite(colours),
    }


def check_gaussians(path: str | os.PathLike, means: torch.Tensor, quats: torch.Tensor, log_scales: torch.Tensor,
                    opacity_logits: torch.Tensor, colours: torch.Tensor, drop_invalid: bool = False) -> torch.Tensor:
    """The Gaussians of the splat file ``path`` to keep: all of them, or with ``drop_invalid`` the valid ones.

    Returns:
        ``[N]`` boolean keep mask.

    Raises:
        SplatFileError: the file holds no Gaussians, holds invalid ones (:func:`invalid_gaussians`) and
            ``drop_invalid`` is False, or holds only invalid ones.
    """
    n = means.shape[0]
    if n == 0:
        raise SplatFileError(f"{path} holds no Gaussians (an empty splat file); export the scene again.")
    masks = invalid_gaussians(means, quats, log_scales, opacity_logits, colours)
    invalid = torch.stack(list(masks.values())).any(0)
    count = int(invalid.sum())
    if count == 0:
        return ~invalid
    found = ", ".join(f"{int(m.sum())} of {n} Gaussians {'has' if int(m.sum()) == 1 else 'have'} {what}"
                      for what, m in masks.items() if m.any())
    if count == n:
        raise SplatFileError(f"{path}: {found}; no valid Gaussian is left: export the scene again.")
    if not drop_invalid:
        raise SplatFileError(f"{path}: {found}; re-export it from its source, or drop those "
                             f"{count} with `lift3d export {path} --format splat-ply --drop-invalid`.")
    print(f"warning: {path}: dropped {count} invalid Gaussians ({found}).", file=sys.stderr)
    return ~invalid


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


def load_ply(path: str | Path, isotropic: bool = False, drop_invalid: bool = False) -> Gaussians:
    """Read a 3DGS .ply (SH degree inferred from the ``f_rest_*`` count).

    Args:
        path: file to read.
        isotropic: keep one scale per Gaussian (``scale_0``) and freeze rotations.
        drop_invalid: skip Gaussians with NaN/inf values or zero-length quaternions (with a warning on
            stderr) instead of refusing the file.

    Raises:
        SplatFileError: (a ``ValueError``) the file is not a 3DGS splat file (unreadable, missing
            properties or odd ``f_rest`` count), is empty, or holds invalid Gaussians (:func:`check_gaussians`).
    """
    try:
        ply = PlyData.read(str(path))
    except Exception as e:  # plyfile raises many types on truncated/corrupt files
        raise SplatFileError(f"cannot read {path} as a PLY file ({type(e).__name__}: {e}); "
                             "it may be corrupt or truncated: export it again.") from None
    if "vertex" not in ply:
        raise SplatFileError(f"{path}: no 'vertex' element; not a 3DGS .ply")
    v = ply["vertex"].data
    names = v.dtype.names
    n_rest = sum(1 for name in names if name.startswith("f_rest_"))
    degree = math.isqrt(n_rest // 3 + 1) - 1
    if n_rest % 3 or (degree + 1) ** 2 - 1 != n_rest // 3:
        raise SplatFileError(f"{path}: {n_rest} f_rest_* properties is not 3 * ((d + 1)^2 - 1) for an SH degree d")
    missing = [name for name in ply_property_names(degree) if name not in names and name[0] != "n"]
    if missing:
        raise SplatFileError(f"{path}: missing 3DGS properties {missing}")

    n = len(v)

    def cols(keys: list[str]) -> torch.Tensor:
        if not keys:
            return torch.zeros(n, 0)
        return torch.from_numpy(np.stack([np.asarray(v[k], dtype=np.float32) for k in keys], axis=1))

    scales = cols(["scale_0"] if isotropic else ["scale_0", "scale_1", "scale_2"])
    rest = cols([f"f_rest_{i}" for i in range(n_rest)]).reshape(n, 3, -1).transpose(1, 2)
    means, quats, opacity = cols(["x", "y", "z"]), cols(["rot_0", "rot_1", "rot_2", "rot_3"]), cols(["opacity"])[:, 0]
    sh0 = cols(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None, :]
    keep = check_gaussians(path, means, quats, scales, opacity, torch.cat([sh0, rest], 1), drop_invalid)
    return Gaussians(
        means=means[keep],
        quats=quats[keep],
        log_scales=scales[keep],
        opacity_logits=opacity[keep],
        sh0=sh0[keep],
        shN=rest[keep].contiguous(),
        isotropic=isotropic,
    )
