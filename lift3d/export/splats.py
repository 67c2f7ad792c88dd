"""3D Gaussian splat files: the reference 3DGS ``.ply`` layout and antimatter15's ``.splat``.

3DGS ``.ply`` ("3D Gaussian Splatting for Real-Time Radiance Field Rendering", arXiv 2308.04079):
binary little-endian float32 properties ``x y z nx ny nz f_dc_0..2 f_rest_0..M-1 opacity scale_0..2
rot_0..3``; ``f_rest`` is channel-major (all R coefficients of degrees 1..d, then G, then B), so
``M = 3 ((d+1)^2 - 1)`` (0, 9, 24, 45 for d = 0..3; Unity/three.js viewers that expect 45 need d = 3).
``opacity`` is a logit, ``scale_*`` are log standard deviations, ``rot_*`` is ``(w, x, y, z)``.

``.splat`` (antimatter15/splat): 32-byte records, ``3 float32`` position, ``3 float32`` linear scale,
``4 uint8`` RGBA (``0.5 + SH_C0 * f_dc`` and ``sigmoid(opacity)``, times 255), ``4 uint8`` normalised
quaternion ``(w, x, y, z) * 128 + 128``; sorted by ``exp(sum log-scales) * opacity``, largest first.
Lossy: degree-0 colour only, 8-bit colour and rotation.

Axis conventions (``axes``): lift3d's world is +Z up. Splat viewers descend from the 3DGS/COLMAP
captures, whose up is -Y; PlayCanvas/SuperSplat map file ``(x, y, z)`` to their +Y-up view as
``(-x, -y, z)``. Hence the default ``y_down``: file ``= (x, -z, y)`` of world, which SuperSplat,
PlayCanvas and antimatter15's viewer show upright. ``y_up`` (``(x, z, -y)``, as glTF) suits
three.js-style +Y-up viewers; ``z_up`` writes world axes unchanged (exact round trip). Rotating a
splat file rotates means and quaternions and also the SH coefficients (band-wise, see
:func:`sh_rotation`), so view-dependent colour survives the axis change.

Readers validate (:func:`lift3d.scenes.gaussians_ply.check_gaussians`): an empty file, or Gaussians with
NaN/inf values or zero-length quaternions, are refused with one line (``drop_invalid=True``, CLI
``--drop-invalid``, skips the invalid Gaussians with a warning instead).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lift3d.export._atomic import write_bytes_atomic
from lift3d.types import LiftError

SH_C0 = 0.28209479177387814
SplatAxes = Literal["y_down", "y_up", "z_up"]
AXES: dict[str, np.ndarray] = {
    "y_down": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # (x, y, z) -> (x, -z, y)
    "y_up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # (x, y, z) -> (x, z, -y)
    "z_up": np.eye(3),
}
"""Rotation from lift3d's world to each file convention (proper rotations, det +1)."""


@dataclass
class SplatData:
    """Plain Gaussian-splat tensors (raw, unconstrained storage as in :class:`lift3d.scenes.gaussians.Gaussians`).

    Attributes:
        means: ``[N, 3]``. quats: ``[N, 4]`` ``(w, x, y, z)``, not necessarily unit.
        log_scales: ``[N, 3]``. opacity_logits: ``[N]``. sh: ``[N, (d+1)^2, 3]`` SH coefficients.
    """

    means: Tensor
    quats: Tensor
    log_scales: Tensor
    opacity_logits: Tensor
    sh: Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        k = self.sh.shape[1] if self.sh.ndim == 3 else -1
        if (self.means.shape != (n, 3) or self.quats.shape != (n, 4) or self.log_scales.shape != (n, 3)
                or self.opacity_logits.shape != (n,) or self.sh.shape != (n, k, 3) or k not in (1, 4, 9, 16)):
            raise ValueError(
                f"SplatData needs means [N,3], quats [N,4], log_scales [N,3], opacity_logits [N], sh [N,(d+1)^2,3] "
                f"with d in 0..3; got {[tuple(t.shape) for t in (self.means, self.quats, self.log_scales, self.opacity_logits, self.sh)]}")

    def __len__(self) -> int:
        return self.means.shape[0]

    def fields(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(means, quats, log_scales, opacity_logits, sh)``."""
        return self.means, self.quats, self.log_scales, self.opacity_logits, self.sh

    def select(self, keep: Tensor) -> SplatData:
        """The Gaussians where the boolean mask ``keep [N]`` is set (``self`` when all are)."""
        if bool(keep.all()):
            return self
        return SplatData(*(t[keep] for t in self.fields()))

    @property
    def sh_degree(self) -> int:
        return math.isqrt(self.sh.shape[1]) - 1

    @classmethod
    def from_gaussians(cls, gaussians) -> SplatData:
        """From a :class:`lift3d.scenes.gaussians.Gaussians` (isotropic scales are expanded to 3)."""
        p = {k: v.detach().cpu().float() for k, v in gaussians.params.items()}
        n = p["means"].shape[0]
        return cls(p["means"], p["quats"], p["scales"].expand(n, 3).clone(), p["opacities"],
                   torch.cat([p["sh0"], p["shN"]], dim=1))

    def to_gaussians(self, isotropic: bool = False):
        """A :class:`lift3d.scenes.gaussians.Gaussians` with these raw parameters."""
        from lift3d.scenes.gaussians import Gaussians

        scales = self.log_scales[:, :1] if isotropic else self.log_scales
        return Gaussians(self.means, self.quats, scales, self.opacity_logits, self.sh[:, :1], self.sh[:, 1:], isotropic)

    def with_sh_degree(self, degree: int) -> SplatData:
        """Truncate or zero-pad the SH coefficients to ``degree`` (0..3)."""
        if not 0 <= degree <= 3:
            raise ValueError(f"SH degree must be 0..3, got {degree}")
        k = (degree + 1) ** 2
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            sh = torch.cat([sh, sh.new_zeros(len(self), k - sh.shape[1], 3)], dim=1)
        return SplatData(self.means, self.quats, self.log_scales, self.opacity_logits, sh)

    def rotated(self, rotation: np.ndarray) -> SplatData:
        """Apply a proper rotation ``[3, 3]`` to positions, orientations and SH colour."""
        r = torch.as_tensor(rotation, dtype=torch.float64)
        if np.allclose(rotation, np.eye(3)):
            return self
        means = (self.means.double() @ r.T).to(self.means.dtype)
        quats = quat_multiply(matrix_to_quat(r)[None], self.quats.double()).to(self.quats.dtype)
        d = sh_rotation(r, self.sh_degree)
        sh = torch.einsum("jk,nkc->njc", d, self.sh.double()).to(self.sh.dtype)
        return SplatData(means, quats, self.log_scales, self.opacity_logits, sh)


def matrix_to_quat(r: Tensor) -> Tensor:
    """``[4]`` unit quaternion ``(w, x, y, z)`` of a rotation matrix ``[3, 3]`` (Shepperd's method)."""
    m = r.double()
    t = float(m.trace())
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(torch.argmax(torch.diagonal(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k]) * 2
        q = [0.0] * 4
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i], q[1 + j], q[1 + k] = 0.25 * s, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
    return torch.tensor([float(v) for v in q], dtype=torch.float64)


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product ``a * b`` of ``[..., 4]`` ``(w, x, y, z)`` quaternions."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def sh_rotation(rotation: Tensor, degree: int) -> Tensor:
    """``[K, K]`` matrix ``D`` with ``sum_k D_jk c_k`` the coefficients of ``f(R^T d)`` for ``f = sum_k c_k Y_k``.

    Real SH bands are closed under rotation, so ``D`` is block-diagonal per band; we fit it exactly by
    least squares on 64 spread directions (more than the 16 unknowns per row) with the 3DGS basis of
    :func:`lift3d.renderers._splat_sh.sh_basis`, then snap round-off below 1e-12 to zero.
    """
    from lift3d.renderers._splat_sh import sh_basis

    i = torch.arange(64, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / 64
    phi = math.pi * (1 + 5**0.5) * i
    dirs = torch.stack([(1 - z * z).sqrt() * phi.cos(), (1 - z * z).sqrt() * phi.sin(), z], dim=-1)
    a = sh_basis(degree, dirs)
    b = sh_basis(degree, dirs @ rotation.double())
    d = torch.linalg.lstsq(a, b).solution
    return torch.where(d.abs() < 1e-12, torch.zeros_like(d), d)


def _ply_header(n: int, names: list[str]) -> bytes:
    props = "".join(f"property float {name}\n" for name in names)
    return f"ply\nformat binary_little_endian 1.0\nelement vertex {n}\n{props}end_header\n".encode()


def ply_property_names(sh_degree: int) -> list[str]:
    """The 3DGS property order for ``sh_degree`` (62 properties at degree 3)."""
    rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(rest)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def save_3dgs_ply(splats: SplatData, path: str | os.PathLike, sh_degree: int | None = None,
                  axes: SplatAxes = "y_down", overwrite: bool = False) -> Path:
    """Write the reference 3DGS ``.ply`` (module docstring) at ``sh_degree`` (default: the data's)."""
    s = splats.with_sh_degree(splats.sh_degree if sh_degree is None else sh_degree).rotated(AXES[axes])
    n, k = len(s), s.sh.shape[1]
    rest = s.sh[:, 1:].transpose(1, 2).reshape(n, 3 * (k - 1))  # channel-major
    cols = [s.means, torch.zeros(n, 3), s.sh[:, 0], rest, s.opacity_logits[:, None], s.log_scales, s.quats]
    table = torch.cat([c.detach().cpu().float() for c in cols], dim=1).numpy().astype("<f4")
    return write_bytes_atomic(path, _ply_header(n, ply_property_names(s.sh_degree)) + table.tobytes(), overwrite)


def is_3dgs_ply(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PLY file whose header declares 3DGS splat properties (``f_dc_0``).

    Raises:
        LiftError: the file does not start with the PLY magic (corrupt or truncated).
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head.startswith(b"ply"):
        raise LiftError(f"{path} is not a PLY file (no 'ply' magic); it may be empty, corrupt or truncated: "
                        "export it again")
    return b"f_dc_0" in head.split(b"end_header")[0]


REQUIRED_PROPERTIES = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                       "rot_0", "rot_1", "rot_2", "rot_3"]
"""The 3DGS ``.ply`` properties a splat file must have (``nx ny nz`` and ``f_rest_*`` are optional)."""


def load_3dgs_ply(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read a 3DGS ``.ply`` (any SH degree 0..3, any property order) back into lift3d's world axes.

    Args:
        drop_invalid: skip Gaussians with NaN/inf values or zero-length quaternions (warning on stderr)
            instead of refusing the file.

    Raises:
        LiftError: (:class:`~lift3d.scenes.gaussians_ply.SplatFileError`) the file is missing, unreadable,
            lacks 3DGS properties, is empty or holds invalid Gaussians (one line saying how many and what to do).
    """
    from plyfile import PlyData

    from lift3d.scenes.gaussians_ply import SplatFileError, check_gaussians

    path = Path(path)
    if not path.is_file():
        raise LiftError(f"splat file {path} does not exist.")
    try:
        vertex = PlyData.read(str(path))["vertex"]
        names = {p.name for p in vertex.properties}
    except Exception as e:  # plyfile raises many types (and KeyError without a vertex element) on bad files
        raise SplatFileError(f"cannot read {path} as a 3DGS .ply ({type(e).__name__}: {e}); it may be corrupt "
                             "or truncated: export it again.") from None
    missing = [name for name in REQUIRED_PROPERTIES if name not in names]
    if missing:
        raise SplatFileError(f"{path} is not a 3DGS .ply: missing properties {missing}; a splat file needs "
                             f"{' '.join(REQUIRED_PROPERTIES)} (f_rest_* optional).")
    rest = sorted((n for n in names if n.startswith("f_rest_")), key=lambda n: int(n[7:]))
    k = len(rest) // 3 + 1
    if k not in (1, 4, 9, 16) or len(rest) % 3:
        raise SplatFileError(f"{path} has {len(rest)} f_rest properties; 3DGS needs 0, 9, 24 or 45.")

    def cols(keys: list[str]) -> Tensor:
        return torch.from_numpy(np.stack([np.asarray(vertex[key], dtype=np.float32) for key in keys], axis=1))

    n = len(vertex.data)
    sh_rest = cols(rest).reshape(n, 3, k - 1).transpose(1, 2) if k > 1 else torch.zeros(n, 0, 3)
    data = SplatData(cols(["x", "y", "z"]), cols([f"rot_{i}" for i in range(4)]),
                     cols([f"scale_{i}" for i in range(3)]), cols(["opacity"])[:, 0],
                     torch.cat([cols([f"f_dc_{i}" for i in range(3)])[:, None], sh_rest], dim=1))
    return data.select(check_gaussians(path, *data.fields(), drop_invalid)).rotated(AXES[axes].T)


def save_splat(splats: SplatData, path: str | os.PathLike, axes: SplatAxes = "y_down", overwrite: bool = False) -> Path:
    """Write antimatter15's ``.splat`` (module docstring), largest ``volume * opacity`` first."""
    s = splats.rotated(AXES[axes])
    opacity = torch.sigmoid(s.opacity_logits.float())
    order = torch.argsort(-(s.log_scales.float().sum(-1).exp() * opacity), stable=True)
    rgba = torch.cat([SH_C0 * s.sh[:, 0].float() + 0.5, opacity[:, None]], dim=1)
    quat = torch.nn.functional.normalize(s.quats.float(), dim=-1) * 128 + 128
    rec = np.zeros(len(s), dtype=[("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
    rec["pos"] = s.means.float()[order].numpy()
    rec["scale"] = s.log_scales.float().exp()[order].numpy()
    rec["rgba"] = (rgba[order] * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    rec["rot"] = (quat[order] + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    return write_bytes_atomic(path, rec.tobytes(), overwrite)


def load_splat(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read a ``.splat`` (degree-0 colour; rotations and colours 8-bit quantised).

    Scales that underflowed to 0 are read as ``1e-12``; negative scales count as non-finite (their log is NaN).

    Raises:
        LiftError: the file is missing, not a whole number of 32-byte records, empty, or holds invalid
            Gaussians (as :func:`load_3dgs_ply`; ``drop_invalid`` skips them with a warning instead).
    """
    from lift3d.scenes.gaussians_ply import check_gaussians

    path = Path(path)
    raw = path.read_bytes() if path.is_file() else None
    if raw is None or len(raw) % 32:
        raise LiftError(f"{path} is not a .splat file (missing, or size not a multiple of 32 bytes).")
    rec = np.frombuffer(raw, dtype=[("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
    rgba = torch.from_numpy(rec["rgba"].astype(np.float32)) / 255.0
    alpha = rgba[:, 3].clamp(1e-6, 1 - 1e-6)
    scale = torch.from_numpy(rec["scale"].copy())
    log_scales = torch.where(scale == 0, torch.full_like(scale, 1e-12), scale).log()  # NaN where negative
    data = SplatData(torch.from_numpy(rec["pos"].copy()), (torch.from_numpy(rec["rot"].astype(np.float32)) - 128) / 128,
                     log_scales, torch.log(alpha / (1 - alpha)), ((rgba[:, :3] - 0.5) / SH_C0)[:, None])
    return data.select(check_gaussians(path, *data.fields(), drop_invalid)).rotated(AXES[axes].T)
