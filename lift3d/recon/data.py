"""Training and evaluation data of the reconstruction model, rendered from the procedural world.

As :mod:`lift3d.train.prior_data`: an object's colour does not change its geometry and its albedo is
uniform, so each (family, seed) is sphere-traced once with a white albedo over black, giving shading
``S`` and coverage ``alpha`` for the canonical input view (:func:`lift3d.recon.camera.input_camera`)
and ``views`` random views; an image of colour ``c`` over white is exactly ``c * S + (1 - alpha)``, so
every palette colour costs nothing. Surface samples of the object's mesh supervise the point decoder.
Held-out objects use seeds >= :data:`HELDOUT_FIRST_SEED`, never drawn in training.

With ``random_fraction > 0`` a seeded fraction of the objects is replaced by Zeroverse-style random
compositions (:func:`lift3d.data.zeroverse.random_composition`, LRM-Zero arXiv 2406.09371). Their albedo
is textured, so they are rendered once in their own colours over black (``ReconData.texture``) and keep
them at batch time (the palette colour drawn for them is ignored); their ``family`` is -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.data.zeroverse import ZeroverseConfig
from lift3d.recon.camera import INPUT_DISTANCE, INPUT_FOV_DEG, input_camera

HELDOUT_FIRST_SEED = 10_000
"""Object seeds from here on are reserved for evaluation."""
RANDOM_SEED_STRIDE = 1 << 20
"""A random composition replacing (family index ``f``, seed ``s``) uses seed ``(f + 1) * RANDOM_SEED_STRIDE + s``."""


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
    random_fraction: float = 0.0
    """Fraction of the (family, seed) objects replaced by random compositions, chosen by a permutation seeded
    with the run seed (0: the families only, exactly as before; 0.5: a 50/50 mix of the same size)."""
    zeroverse: ZeroverseConfig = field(default_factory=ZeroverseConfig)
    """Recipe of the random compositions (``--data.zeroverse.max-parts`` ...)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.random_fraction <= 1.0:
            raise ValueError(f"random_fraction must be in [0, 1], got {self.random_fraction}")


@dataclass
class ReconData:
    """Rendered objects; colour is applied at batch time.

    Attributes:
        shade: ``[M, 1 + V, R, R]`` white-albedo shading over black (view 0 is the input view).
        alpha: ``[M, 1 + V, R, R]`` coverage.
        c2w: ``[M, 1 + V, 4, 4]`` camera-to-world matrices of those views.
        points: ``[M, S, 3]`` surface samples. family: ``[M]`` family index (-1: a random composition).
        texture: ``[N, 1 + V, R, R, 3]`` uint8 renders over black of the ``N`` random compositions in their own
            colours, or None (no random objects). texture_index: ``[M]`` row of ``texture`` (-1: a family object).
    """

    shade: torch.Tensor
    alpha: torch.Tensor
    c2w: torch.Tensor
    points: torch.Tensor
    family: torch.Tensor
    texture: torch.Tensor | None = None
    texture_index: torch.Tensor | None = None

    def images(self, obj: torch.Tensor, view: torch.Tensor, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB over white ``[B, V, R, R, 3]`` and alpha ``[B, V, R, R, 1]`` of views ``view [B, V]`` of ``obj [B]``,
        coloured ``rgb [B, 3]``."""
        rows = obj[:, None].expand_as(view)
        s, a = self.shade[rows, view][..., None], self.alpha[rows, view][..., None]
        out = rgb[:, None, None, None, :] * s
        if self.texture is not None and self.texture_index is not None:
            t = self.texture_index[obj]
            own = self.texture[t.clamp_min(0)[:, None].expand_as(view), view].float() / 255
            out = torch.where((t >= 0)[:, None, None, None, None], own, out)
        return out + (1.0 - a), a

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
    from lift3d.data.zeroverse import random_composition

    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    families = cfg.families or tuple(FAMILIES)
    seeds = seeds if seeds is not None else list(range(cfg.first_seed, cfg.first_seed + cfg.seeds_per_family))
    total = len(families) * len(seeds)
    random_rows: set[int] = set()
    if cfg.random_fraction > 0:  # its own generator: the families' draws below stay as without random objects
        perm = torch.randperm(total, generator=torch.Generator().manual_seed(generator.initial_seed() + 7919))
        random_rows = set(perm[: round(cfg.random_fraction * total)].tolist())
    shade, alpha, c2w, pts, fam, texture, texture_index = [], [], [], [], [], [], []
    lo, hi = cfg.elevation
    for family in families:
        for seed in seeds:
            row, f = len(shade), list(FAMILIES).index(family)
            if row in random_rows:
                obj = random_composition((f + 1) * RANDOM_SEED_STRIDE + seed, config=cfg.zeroverse)
            else:
                obj = replace(procedural_object(family, "white", seed=seed), rgb=(1.0, 1.0, 1.0))
            v = cfg.views
            e = lo + (hi - lo) * torch.rand(v, generator=generator)
            a = 360.0 * torch.rand(v, generator=generator)
            cams = Cameras.cat([input_camera(cfg.resolution), Cameras.from_spherical(
                e, a, torch.full((v,), INPUT_DISTANCE), INPUT_FOV_DEG, cfg.resolution)])
            out = render_object(obj, cams, background=(0.0, 0.0, 0.0))
            if row in random_rows:
                texture_index.append(len(texture))
                texture.append((out.rgb * 255).round().to(torch.uint8))
                shade.append(out.rgb.mean(-1))  # unused at batch time (the texture replaces colour * shade)
                fam.append(-1)
            else:
                texture_index.append(-1)
                shade.append(out.rgb[..., 0])
                fam.append(f)
            alpha.append(out.alpha[..., 0])
            c2w.append(cams.c2w)
            mesh_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            pts.append(torch.as_tensor(np.asarray(
                obj.mesh(48).sample(cfg.surface_points, seed=mesh_seed)), dtype=torch.float32))
    q = lambda t: (torch.stack(t) * 255).round() / 255  # noqa: E731
    data = ReconData(q(shade), q(alpha), torch.stack(c2w), torch.stack(pts), torch.tensor(fam))
    if texture:
        data.texture, data.texture_index = torch.stack(texture), torch.tensor(texture_index)
    return data


def save_recon_data(data: ReconData, path) -> None:
    from safetensors.torch import save_file

    tensors = {"shade": (data.shade * 255).round().to(torch.uint8), "alpha": (data.alpha * 255).round().to(torch.uint8),
               "c2w": data.c2w.contiguous(), "points": data.points.contiguous(), "family": data.family}
    if data.texture is not None and data.texture_index is not None:
        tensors.update(texture=data.texture.contiguous(), texture_index=data.texture_index)
    save_file(tensors, str(path))


def load_recon_data(path) -> ReconData:
    from safetensors.torch import load_file

    t = load_file(str(path))
    return ReconData(t["shade"].float() / 255, t["alpha"].float() / 255, t["c2w"], t["points"], t["family"],
                     t.get("texture"), t.get("texture_index"))
