"""3D Gaussian splats as an optimisable scene.

"3D Gaussian Splatting for Real-Time Radiance Field Rendering" (Kerbl et al., arXiv 2308.04079).
The parameters live in ``self.params``, an ``nn.ParameterDict`` whose keys are gsplat's
(``means``, ``quats``, ``scales``, ``opacities``, ``sh0``, ``shN``), so gsplat's densification
strategies can edit it in place (see :mod:`lift3d.scenes.gaussians_strategy`).

Raw (unconstrained) storage: ``scales`` are log-scales, ``opacities`` are logits, ``quats`` are
un-normalised ``(w, x, y, z)`` quaternions, colours are spherical-harmonics coefficients
(``sh0`` ``[N, 1, 3]`` degree 0, ``shN`` ``[N, (d+1)^2 - 1, 3]`` degrees 1..d); the rendered colour is
``max(SH(dir) + 0.5, 0)`` as in gsplat and the reference 3DGS code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

SH_C0 = 0.28209479177387814
"""Degree-0 real spherical-harmonics constant: colour = SH_C0 * sh0 + 0.5."""

ATTRIBUTES = ("means", "quats", "scales", "opacities", "sh0", "shN")


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` colours in [0, 1] to degree-0 SH coefficients (inverse of ``SH_C0 * c + 0.5``)."""
    return (rgb - 0.5) / SH_C0


def num_sh_bases(degree: int) -> int:
    """Number of SH basis functions up to ``degree`` (1, 4, 9, 16 for degrees 0..3)."""
    return (degree + 1) ** 2


@dataclass(frozen=True)
class GaussianLearningRates:
    """Per-attribute Adam learning rates (the 3DGS defaults)."""

    means: float = 1.6e-4
    """Position learning rate, multiplied by the scene scale."""
    quats: float = 1e-3
    """Rotation (quaternion) learning rate."""
    scales: float = 5e-3
    """Log-scale learning rate."""
    opacities: float = 5e-2
    """Opacity-logit learning rate."""
    sh0: float = 2.5e-3
    """Degree-0 SH (base colour) learning rate."""
    shN: float = 2.5e-3 / 20
    """Higher-degree SH learning rate."""


@dataclass(frozen=True)
class SHSchedule:
    """Raise the active SH degree by one every ``every`` steps, up to the scene's maximum."""

    every: int = 1000
    """Steps between degree increases (degree = step // every, capped)."""

    def degree_at(self, step: int, max_degree: int) -> int:
        return min(max_degree, step // max(self.every, 1))


class Gaussians(nn.Module):
    """N anisotropic (or isotropic) 3D Gaussians with SH colour of degree 0..3.

    Args:
        means: ``[N, 3]`` centres (world, +Z up).
        quats: ``[N, 4]`` rotations ``(w, x, y, z)``; need not be normalised.
        log_scales: ``[N, 3]`` (or ``[N, 1]`` when ``isotropic``) log standard deviations.
        opacity_logits: ``[N]`` logits of opacity.
        sh0: ``[N, 1, 3]`` degree-0 SH coefficients.
        shN: ``[N, (d+1)^2 - 1, 3]`` higher-degree coefficients (``[N, 0, 3]`` for degree 0).
        isotropic: one scale per Gaussian; rotations are kept (frozen) only for gsplat's ops.
    """

    def __init__(
        self,
        means: torch.Tensor,
        quats: torch.Tensor,
        log_scales: torch.Tensor,
        opacity_logits: torch.Tensor,
        sh0: torch.Tensor,
        shN: torch.Tensor,
        isotropic: bool = False,
    ) -> None:
        super().__init__()
        n = means.shape[0]
        degree = math.isqrt(shN.shape[1] + 1) - 1 if shN.ndim == 3 else -1
        expected = {
            "means": (n, 3),
            "quats": (n, 4),
            "scales": (n, 1 if isotropic else 3),
            "opacities": (n,),
            "sh0": (n, 1, 3),
            "shN": (n, num_sh_bases(max(degree, 0)) - 1, 3),
        }
        given = dict(zip(ATTRIBUTES, (means, quats, log_scales, opacity_logits, sh0, shN)))
        for name, shape in expected.items():
            if tuple(given[name].shape) != shape or not 0 <= degree <= 3:
                raise ValueError(
                    f"Gaussians.{name} must have shape {shape} (N={n}, SH degree 0..3, isotropic={isotropic}), "
                    f"got {tuple(given[name].shape)}"
                )
        self.isotropic = isotropic
        self.max_sh_degree = degree
        self.active_sh_degree = degree
        self.params = nn.ParameterDict()  # filled in ATTRIBUTES order (a plain dict would be key-sorted)
        for k, v in given.items():
            self.params[k] = nn.Parameter(v.detach().clone())
        if isotropic:
            self.params["quats"].requires_grad_(False)

    # ----------------------------------------------------------------- activated views
    def __len__(self) -> int:
        return self.params["means"].shape[0]

    @property
    def means(self) -> torch.Tensor:
        return self.params["means"]

    @property
    def quats(self) -> torch.Tensor:
        """``[N, 4]`` unit quaternions ``(w, x, y, z)``."""
        return nn.functional.normalize(self.params["quats"], dim=-1)

    @property
    def scales(self) -> torch.Tensor:
        """``[N, 3]`` standard deviations along the Gaussian's axes."""
        return self.params["scales"].exp().expand(len(self), 3)

    @property
    def opacities(self) -> torch.Tensor:
        """``[N]`` opacities in (0, 1)."""
        return torch.sigmoid(self.params["opacities"])

    @property
    def sh(self) -> torch.Tensor:
        """``[N, (d+1)^2, 3]`` all SH coefficients."""
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    def set_sh_degree(self, degree: int) -> None:
        """Set the SH degree used for rendering (clamped to ``[0, max_sh_degree]``)."""
        self.active_sh_degree = max(0, min(int(degree), self.max_sh_degree))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first attribute that holds NaN or Inf."""
        for name in ATTRIBUTES:
            p = self.params[name]
            if not torch.isfinite(p).all():
                bad = int((~torch.isfinite(p)).reshape(p.shape[0], -1).any(-1).sum()) if p.ndim else 1
                raise ValueError(
                    f"Gaussians.{name} has non-finite values in {bad} of {len(self)} Gaussians; "
                    "lower the learning rate or re-initialise the scene."
                )

    def param_groups(self, lr: GaussianLearningRates | None = None, scene_scale: float = 1.0) -> list[dict]:
        """Optimizer param groups, one per trainable attribute, each named by its key.

        Args:
            lr: per-attribute learning rates (default: 3DGS's).
            scene_scale: multiplies the position learning rate (scene extent).
        """
        lr = lr or GaussianLearningRates()
        groups = []
        for name in ATTRIBUTES:
            p = self.params[name]
            if p.requires_grad:
                rate = getattr(lr, name) * (scene_scale if name == "means" else 1.0)
                groups.append({"params": [p], "lr": rate, "name": name})
        return groups

    def extra_repr(self) -> str:
        return f"n={len(self)}, sh_degree={self.active_sh_degree}/{self.max_sh_degree}, isotropic={self.isotropic}"

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_points(
        cls,
        points: torch.Tensor,
        colors: torch.Tensor | None = None,
        sh_degree: int = 3,
        scales: torch.Tensor | None = None,
        normals: torch.Tensor | None = None,
        opacity: float = 0.1,
        isotropic: bool = False,
    ) -> Gaussians:
        """Gaussians centred on a point cloud (the 3DGS initialisation).

        Args:
            points: ``[N, 3]`` centres.
            colors: ``[N, 3]`` colours in [0, 1] (default grey).
            sh_degree: maximum SH degree (0..3).
            scales: ``[N]`` standard deviations (default: mean distance to the 3 nearest neighbours).
            normals: ``[N, 3]`` optional surface normals: each Gaussian becomes a disc (its shortest axis,
                10x shorter, along the normal) instead of a ball.
            opacity: initial opacity of every Gaussian.
            isotropic: one scale per Gaussian.
        """
        if points.ndim != 2 or points.shape[-1] != 3:
            raise ValueError(f"points must be [N, 3], got {tuple(points.shape)}")
        if not 0.0 < opacity < 1.0:
            raise ValueError(f"opacity must be in (0, 1), got {opacity}")
        n, dt = points.shape[0], points.dtype
        colors = torch.full((n, 3), 0.5, dtype=dt) if colors is None else colors.to(dt)
        if scales is None:
            scales = knn_mean_distance(points, k=3).clamp_min(1e-7)
        log_s = scales.log()[:, None].expand(n, 1 if isotropic else 3).clone()
        quats = torch.zeros(n, 4, dtype=dt)
        quats[:, 0] = 1.0
        if normals is not None and not isotropic:
            quats = quat_z_to(nn.functional.normalize(normals.to(dt), dim=-1))
            log_s[:, 2] -= math.log(10.0)
        sh0 = rgb_to_sh0(colors)[:, None, :]
        shN = torch.zeros(n, num_sh_bases(sh_degree) - 1, 3, dtype=dt)
        logits = torch.full((n,), math.log(opacity / (1 - opacity)), dtype=dt)
        return cls(points, quats, log_s, logits, sh0, shN, isotropic=isotropic)

    @classmethod
    def random_ball(
        cls,
        n: int,
        radius: float = 1.0,
        generator: torch.Generator | None = None,
        sh_degree: int = 3,
        scale: float | None = None,
        opacity: float = 0.1,
        isotropic: bool = False,
    ) -> Gaussians:
        """``n`` Gaussians uniform in a ball of ``radius`` with random colours and rotations.

        ``scale`` defaults to ``radius / n^(1/3)`` (about the spacing of the points).
        """
        direction = nn.functional.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        r = radius * torch.rand(n, 1, generator=generator) ** (1.0 / 3.0)
        colors = torch.rand(n, 3, generator=generator)
        s = scale if scale is not None else radius / max(n, 1) ** (1.0 / 3.0)
        g = cls.from_points(direction * r, colors, sh_degree, torch.full((n,), s), None, opacity, isotropic)
        if not isotropic:
            g.params["quats"].data.copy_(torch.randn(n, 4, generator=generator))
        return g

    @classmethod
    def from_mesh(
        cls,
        mesh,  # trimesh.Trimesh
        n: int,
        generator: torch.Generator | None = None,
        sh_degree: int = 3,
        opacity: float = 0.5,
        isotropic: bool = False,
    ) -> Gaussians:
        """``n`` flat Gaussians sampled on a trimesh surface, oriented along face normals.

        Colours come from the mesh's vertex or face colours when it has them (else grey).
        """
        import trimesh

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        points, face_idx = trimesh.sample.sample_surface(mesh, n, seed=seed)
        normals = torch.as_tensor(mesh.face_normals[face_idx], dtype=torch.float32)
        colors = None
        visual = getattr(mesh, "visual", None)
        if visual is not None and getattr(visual, "kind", None) in ("vertex", "face"):
            face_rgb = torch.as_tensor(visual.face_colors[face_idx][:, :3], dtype=torch.float32) / 255.0
            colors = face_rgb
        spacing = math.sqrt(float(mesh.area) / max(n, 1))
        pts = torch.as_tensor(points, dtype=torch.float32)
        return cls.from_points(pts, colors, sh_degree, torch.full((n,), spacing), normals, opacity, isotropic)


def quat_z_to(direction: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` unit quaternions ``(w, x, y, z)`` rotating +Z onto the unit vectors ``direction [N, 3]``."""
    x, y, z = direction.unbind(-1)
    q = torch.stack([1.0 + z, -y, x, torch.zeros_like(z)], dim=-1)
    flip = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=direction.dtype)  # 180 degrees about X for -Z
    q = torch.where((1.0 + z)[:, None] < 1e-6, flip, q)
    return nn.functional.normalize(q, dim=-1)


def knn_mean_distance(points: torch.Tensor, k: int = 3, chunk: int = 4096) -> torch.Tensor:
    """``[N]`` mean distance of each point to its ``k`` nearest other points (chunked brute force)."""
    n = points.shape[0]
    if n <= 1:
        return torch.ones(n, dtype=points.dtype)
    k = min(k, n - 1)
    out = []
    for start in range(0, n, chunk):
        d = torch.cdist(points[start : start + chunk], points)
        out.append(d.topk(k + 1, largest=False).values[:, 1:].mean(-1))
    return torch.cat(out)
