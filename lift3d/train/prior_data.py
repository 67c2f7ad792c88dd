"""Training data for the bundled text+camera prior, rendered from the procedural world.

Colour does not change a procedural object's geometry and every object has a uniform albedo, so
each (family, seed, camera) is sphere-traced once with a white albedo over a black background,
giving a shading map ``S`` and coverage ``alpha``; an image of colour ``c`` over a white background
is then exactly ``c * S + (1 - alpha)``. Ten colours cost one render.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from lift3d.cameras import Cameras


@dataclass(frozen=True)
class PriorDataConfig:
    """What to render for prior training."""

    seeds_per_family: int = 40
    """Object seeds per shape family (each seed changes proportions and size)."""
    views_per_object: int = 16
    """Random cameras per object."""
    resolution: int = 32
    first_seed: int = 1
    """Training seeds are ``first_seed .. first_seed + seeds_per_family - 1``; seeds >= 10000 are held out."""


@dataclass
class PriorData:
    """Rendered geometry of the training set, colour applied at batch time.

    Attributes:
        shade: ``[N, R, R]`` white-albedo shading over black, in [0, 1].
        alpha: ``[N, R, R]`` coverage.
        family: ``[N]`` family index into ``families``.
        elevation: ``[N]`` degrees. azimuth: ``[N]`` degrees.
        families: family names in index order.
    """

    shade: torch.Tensor
    alpha: torch.Tensor
    family: torch.Tensor
    elevation: torch.Tensor
    azimuth: torch.Tensor
    families: tuple[str, ...]

    def images(self, index: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """``[B, R, R, 3]`` images of samples ``index`` [B] coloured ``rgb`` [B, 3] over white."""
        s, a = self.shade[index].float()[..., None], self.alpha[index].float()[..., None]
        return rgb[:, None, None, :] * s + (1.0 - a)


def render_prior_data(cfg: PriorDataConfig, generator: torch.Generator) -> PriorData:
    """Render the training geometry (deterministic in ``generator``'s seed)."""
    from lift3d.data import FAMILIES, procedural_object, render_object
    from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_ELEVATION, TRAIN_FOV_DEG

    families = tuple(FAMILIES)
    shade, alpha, fam, elev, azim = [], [], [], [], []
    lo, hi = TRAIN_ELEVATION
    for fi, family in enumerate(families):
        for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds_per_family):
            obj = procedural_object(family, "white", seed=seed)
            obj = replace(obj, rgb=(1.0, 1.0, 1.0))
            n = cfg.views_per_object
            e = lo + (hi - lo) * torch.rand(n, generator=generator)
            a = 360.0 * torch.rand(n, generator=generator)
            cams = Cameras.from_spherical(e, a, torch.full((n,), TRAIN_DISTANCE), TRAIN_FOV_DEG, cfg.resolution)
            out = render_object(obj, cams, background=(0.0, 0.0, 0.0))
            shade.append(out.rgb[..., 0].clone())
            alpha.append(out.alpha[..., 0].clone())
            fam.append(torch.full((n,), fi))
            elev.append(e)
            azim.append(a)
    return PriorData(torch.cat(shade), torch.cat(alpha), torch.cat(fam), torch.cat(elev), torch.cat(azim), families)


def load_or_render(run, data: PriorDataConfig, gen: torch.Generator) -> PriorData:
    """Render the training set once per run and cache it in the run folder (safetensors)."""
    from safetensors.torch import load_file, save_file

    from lift3d.data import FAMILIES

    path = run.path / "prior_data.safetensors"
    if path.is_file():
        t = load_file(str(path))
        return PriorData(t["shade"].float() / 255, t["alpha"].float() / 255, t["family"], t["elevation"],
                         t["azimuth"], tuple(FAMILIES))
    rendered = render_prior_data_quantized(data, gen)
    save_file({"shade": (rendered.shade * 255).round().to(torch.uint8),
               "alpha": (rendered.alpha * 255).round().to(torch.uint8), "family": rendered.family,
               "elevation": rendered.elevation, "azimuth": rendered.azimuth}, str(path))
    return rendered


def render_prior_data_quantized(cfg: PriorDataConfig, gen: torch.Generator) -> PriorData:
    """Render and round to 8 bits, so a fresh run and a resumed run (which reloads the cache) see equal data."""
    d = render_prior_data(cfg, gen)
    return PriorData((d.shade * 255).round() / 255, (d.alpha * 255).round() / 255, d.family, d.elevation,
                     d.azimuth, d.families)
