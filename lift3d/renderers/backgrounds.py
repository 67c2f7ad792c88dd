"""Backgrounds composited behind renders: solid colour, random colour, learned environment MLP.

Every background maps ray directions ``[B, H, W, 3]`` to colours ``[B, H, W, 3]`` in [0, 1]. The
environment MLP is DreamFusion's background network ("DreamFusion: Text-to-3D using 2D Diffusion",
arXiv 2209.14988, section 3.1): a small MLP on the positionally encoded ray direction.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SolidBackground(nn.Module):
    """A constant colour.

    Args:
        color: RGB in [0, 1].
    """

    def __init__(self, color: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        c = torch.as_tensor(color, dtype=torch.float32)
        if c.shape != (3,) or not bool(((c >= 0) & (c <= 1)).all()):
            raise ValueError(f"background colour must be 3 values in [0, 1], got {color}")
        self.register_buffer("color", c)

    def forward(self, directions: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.color.to(directions).expand_as(directions)


class RandomBackground(nn.Module):
    """One uniformly random colour per image (a common regulariser against background leakage)."""

    def forward(self, directions: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            raise ValueError("RandomBackground needs a torch.Generator (pass generator=...)")
        B = directions.shape[0]
        c = torch.rand(B, 3, generator=generator, device=directions.device, dtype=directions.dtype)
        return c[:, None, None, :].expand_as(directions)


class EnvironmentMLP(nn.Module):
    """Learned colour as a function of ray direction: ``sigmoid(MLP(PE(d)))``.

    Args:
        num_frequencies: sinusoidal frequencies per axis of the positional encoding.
        hidden_dim: MLP width.
        generator: optional generator for the initial weights.
    """

    def __init__(self, num_frequencies: int = 4, hidden_dim: int = 32,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        in_dim = 3 + 6 * num_frequencies
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 3))
        if generator is not None:
            for p in self.mlp.parameters():
                bound = 1.0 / math.sqrt(p.shape[-1])
                p.data.uniform_(-bound, bound, generator=generator)

    def encode(self, d: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` unit directions to ``[..., 3 + 6F]`` features ``(d, sin(2^k pi d), cos(2^k pi d))``."""
        freqs = (2.0 ** torch.arange(self.num_frequencies, device=d.device, dtype=d.dtype)) * math.pi
        x = d[..., None, :] * freqs[:, None]  # [..., F, 3]
        return torch.cat([d, x.sin().flatten(-2), x.cos().flatten(-2)], dim=-1)

    def forward(self, directions: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        d = nn.functional.normalize(directions, dim=-1)
        return torch.sigmoid(self.mlp(self.encode(d)))

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": list(self.parameters()), "lr": lr, "name": "background"}]


Background = SolidBackground | RandomBackground | EnvironmentMLP


def background_colors(
    background: Background | torch.Tensor | tuple[float, float, float] | None,
    directions: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Colours ``[B, H, W, 3]`` for rays ``directions [B, H, W, 3]``.

    ``background`` may be a background module, an RGB tensor/tuple (``[3]`` or ``[B, 3]``), or None
    (white).
    """
    if background is None:
        return torch.ones_like(directions)
    if isinstance(background, nn.Module):
        return background(directions, generator)
    c = torch.as_tensor(background, dtype=directions.dtype, device=directions.device)
    if c.shape == (3,):
        return c.expand_as(directions)
    if c.shape == (directions.shape[0], 3):
        return c[:, None, None, :].expand_as(directions)
    raise ValueError(f"background colour must be [3] or [B, 3], got {tuple(c.shape)}")
