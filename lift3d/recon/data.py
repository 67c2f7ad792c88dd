"""Training and evaluation data of the reconstruction model, rendered from the procedural world.

As :mod:`lift3d.train.prior_data`: an object's colour does not change its geometry and its albedo is
uniform, so each (family, seed) is sphere-traced once with a white albedo over black, giving shading
``S`` and coverage ``alpha`` for the canonical input view (:func:`lift3d.recon.camera.input_camera`)
and ``views`` random views; an image of colour ``c`` over white is exactly ``c * S + (1 - alpha)``, so
every palette colour costs nothing. Surface samples of the object's mesh supervise the point decoder.
Held-out objects use seeds >= :data:`HELDOUT_FIRST_SEED`, never drawn in training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.recon.camera import INPUT_DISTANCE, INPUT_FOV_DEG, input_camera

HELDOUT_FIRST_SEED = 10_000
"""Object seeds from here on are reserved for evaluation."""


@dataclass(frozen=True)
class ReconDataConfig:
    """Which objects are rendered for training, and how."""

    seeds_per_family: int = 24
    """Object seeds per shape family (seeds ``first_seed ..``)."""
    first_seed: int = 1
    views: int = 5
    """Random supervision views per object (besides the input view)."""
    resolution: int = 32
    surface_points: int = 1024
    """Ground-truth surface samples per object (for the Chamfer loss)."""
    elevation: tuple[float, float] = (-10.0, 60.0)
    """Elevation range of the supervision views in degrees."""
    families: tuple[str, ...] = ()
    """Families to render (empty: all)."""


@dataclass
class ReconData:
    """Rendered objects; colour is applied at batch time.

    Attributes:
        shade: ``[M, 1 + V, R, R]`` white-albedo shading over black (view 0 is the input view).
        alpha: ``[M, 1 + V, R, R]`` coverage.
        c2w: ``[M, 1 + V, 4, 4]`` camera-to-world matrices of those views.
        points: ``[M, S, 3]`` surface samples. family: ``[M]`` family index.
    """

    shade: torch.Tensor
    alpha: torch.Tensor
    c2w: torch.Tensor
    points: torch.Tensor
    family: torch.Tensor

    def images(self, obj: torch.Tensor, view: torch.Tensor, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB over white ``[B, V, R, R, 3]`` and alpha ``[B, V, R, R, 1]`` of views ``view [B, V]`` of ``obj [B]``,
        coloured ``rgb [B, 3]``."""
        rows = obj[:, None].expand_as(view)
        s, a = self.shade[rows, view][..., None], self.alpha[rows, view][..., None]
        return rgb[:, None, None, None, :] * s + (1.0 - a), a

    def cameras(self, obj: int, view: torch.Tensor) -> Cameras:
        """The cameras of views ``view [V]`` of object ``obj``."""
        R = self.shade.shape[-1]
        K = input_camera(R).K.expand(len(view), 3, 3)
        return Cameras(self.c2w[obj, view], K, R, R)


def render_recon_data(cfg: ReconDataConfig, seeds: list[int] | None = None,
                      generator: torch.Generator | None = None) -> ReconData:
    """Render every (family, seed) of ``cfg`` (or of ``seeds``); deterministic in ``generator``'s seed.

    Shading and alpha are rounded to 8 bits, so a resumed run that reloads a saved copy sees equal data.
    """
    from lift3d.data import FAMILIES, procedural_object, render_object

    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    families = cfg.families or tuple(FAMILIES)
    seeds = seeds if seeds is not None else list(range(cfg.first_seed, cfg.first_seed + cfg.seeds_per_family))
    shade, alpha, c2w, pts, fam = [], [], [], [], []
    lo, hi = cfg.elevation
    for family in families:
        for seed in seeds:
            obj = replace(procedural_object(family, "white", seed=seed), rgb=(1.0, 1.0, 1.0))
            v = cfg.views
            e = lo + (hi - lo) * torch.rand(v, generator=generator)
            a = 360.0 * torch.rand(v, generator=generator)
            cams = Cameras.cat([input_camera(cfg.resolution), Cameras.from_spherical(
                e, a, torch.full((v,), INPUT_DISTANCE), INPUT_FOV_DEG, cfg.resolution)])
            out = render_object(obj, cams, background=(0.0, 0.0, 0.0))
            shade.append(out.rgb[..., 0])
            alpha.append(out.alpha[..., 0])
            c2w.append(cams.c2w)
            mesh_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            pts.append(torch.as_tensor(np.asarray(
                obj.mesh(48).sample(cfg.surface_points, seed=mesh_seed)), dtype=torch.float32))
            fam.append(list(FAMILIES).index(family))
    q = lambda t: (torch.stack(t) * 255).round() / 255  # noqa: E731
    return ReconData(q(shade), q(alpha), torch.stack(c2w), torch.stack(pts), torch.tensor(fam))


def save_recon_data(data: ReconData, path) -> None:
    from safetensors.torch import save_file

    save_file({"shade": (data.shade * 255).round().to(torch.uint8), "alpha": (data.alpha * 255).round().to(torch.uint8),
               "c2w": data.c2w.contiguous(), "points": data.points.contiguous(), "family": data.family}, str(path))


def load_recon_data(path) -> ReconData:
    from safetensors.torch import load_file

    t = load_file(str(path))
    return ReconData(t["shade"].float() / 255, t["alpha"].float() / 255, t["c2w"], t["points"], t["family"])
