"""The named colour palette of the procedural world, its synonyms, and nearest-colour lookup."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Colour:
    """A named albedo.

    Attributes:
        name: the canonical name (used in labels and file names).
        rgb: linear albedo in [0, 1].
        synonyms: other words captions may use for it (disjoint across colours).
    """

    name: str
    rgb: tuple[float, float, float]
    synonyms: tuple[str, ...] = ()


PALETTE: tuple[Colour, ...] = (
    Colour("red", (0.85, 0.12, 0.10), ("crimson", "scarlet")),
    Colour("orange", (0.95, 0.50, 0.08), ("tangerine", "amber")),
    Colour("yellow", (0.95, 0.85, 0.15), ("golden", "lemon")),
    Colour("green", (0.15, 0.70, 0.20), ("emerald", "lime")),
    Colour("cyan", (0.15, 0.75, 0.80), ("turquoise", "teal")),
    Colour("blue", (0.12, 0.25, 0.85), ("azure", "cobalt")),
    Colour("purple", (0.50, 0.20, 0.70), ("violet", "lilac")),
    Colour("pink", (0.95, 0.50, 0.70), ("rose", "magenta")),
    Colour("brown", (0.45, 0.28, 0.12), ("chocolate", "wooden")),
    Colour("white", (0.92, 0.92, 0.92), ("ivory", "snowy")),
)
"""Palette colours in a fixed order (their index is part of the dataset's label space)."""

COLOURS: dict[str, Colour] = {c.name: c for c in PALETTE}


def colour(name: str) -> Colour:
    """The palette colour called ``name`` (canonical name or synonym).

    Raises:
        ValueError: ``name`` is not in the palette.
    """
    key = name.strip().lower()
    for c in PALETTE:
        if key == c.name or key in c.synonyms:
            return c
    raise ValueError(f"unknown colour {name!r}; choose one of {[c.name for c in PALETTE]} (or a synonym).")


def palette_rgb(device: torch.device | str | None = None) -> Tensor:
    """``[C, 3]`` albedos of :data:`PALETTE` in order."""
    return torch.tensor([c.rgb for c in PALETTE], dtype=torch.float32, device=device)


def nearest_colour(rgb: Tensor, shading: float = 1.0) -> list[str]:
    """Name of the nearest palette colour (Euclidean in RGB) for each of ``rgb [..., 3]``.

    Args:
        rgb: colours in [0, 1], e.g. the mean albedo of an asset, or the mean shaded colour of its pixels.
        shading: factor the palette is multiplied by before comparing; pass the mean shading of the
            renders (about 0.75 for :func:`lift3d.data.render_object`'s light) when ``rgb`` is shaded.

    Returns:
        A flat list of names, one per colour in ``rgb.reshape(-1, 3)``.
    """
    if rgb.shape[-1] != 3:
        raise ValueError(f"rgb must end in 3 channels, got shape {tuple(rgb.shape)}")
    flat = rgb.reshape(-1, 3).float()
    dist = torch.cdist(flat, shading * palette_rgb(flat.device))
    return [PALETTE[i].name for i in dist.argmin(dim=-1).tolist()]
