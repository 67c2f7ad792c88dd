"""Multi-resolution hash encoding and the hash-grid field, after "Instant Neural Graphics Primitives
with a Multiresolution Hash Encoding" (Müller et al., arXiv 2201.05989).

Pure PyTorch (tiny-cuda-nn does not run on CPU): per level, the 8 corners of the voxel containing a
point are looked up in a feature table (directly indexed where the level's grid fits in the table,
otherwise through the paper's spatial hash ``xor_i(c_i * pi_i) mod T`` with primes
``pi = (1, 2654435761, 805459861)``) and trilinearly interpolated. Levels are concatenated and fed
to a small MLP that outputs density and albedo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from lift3d.scenes.field import DensityActivation, Field, density_albedo_mlp

_PRIMES = (1, 2654435761, 805459861)


class _GatherRows(torch.autograd.Function):
    """``table[index]`` for a flat int64 index, with an ``index_add_`` backward.

    On CPU this is about 10x faster than the backward of ``embedding`` or advanced indexing, which
    dominated a hash-grid training step.
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(index)
        ctx.rows = table.shape[0]
        return table.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (index,) = ctx.saved_tensors
        out = grad.new_zeros(ctx.rows, grad.shape[-1]).index_add_(0, index, grad)
        return out, None


@dataclass(frozen=True)
class HashEncodingConfig:
    """Multi-resolution hash encoding."""

    num_levels: int = 16
    """Number of resolution levels L."""
    features_per_level: int = 2
    """Feature channels F per level."""
    log2_hashmap_size: int = 19
    """log2 of the table size T per level."""
    base_resolution: int = 16
    """Coarsest grid resolution N_min."""
    max_resolution: int = 2048
    """Finest grid resolution N_max."""

    def __post_init__(self) -> None:
        if self.num_levels < 1 or self.features_per_level < 1:
            raise ValueError("num_levels and features_per_level must be >= 1")
        if not 1 <= self.base_resolution <= self.max_resolution:
            raise ValueError(f"need 1 <= base_resolution <= max_resolution, got {self.base_resolution}, "
                             f"{self.max_resolution}")
        if not 4 <= self.log2_hashmap_size <= 30:
            raise ValueError(f"log2_hashmap_size must be in [4, 30], got {self.log2_hashmap_size}")


class HashEncoding(nn.Module):
    """Maps points in ``[0, 1]^3`` to ``[N, L * F]`` interpolated hash-table features.

    Args:
        config: levels, table size and resolutions.
        generator: generator for the table initialisation ``U(-1e-4, 1e-4)`` (paper, section 4).
        dtype: parameter dtype (float64 for gradcheck).
    """

    def __init__(self, config: HashEncodingConfig | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = c = config or HashEncodingConfig()
        growth = math.exp((math.log(c.max_resolution) - math.log(c.base_resolution)) / max(c.num_levels - 1, 1))
        resolutions = [math.floor(c.base_resolution * growth**level) for level in range(c.num_levels)]
        table = 2**c.log2_hashmap_size
        sizes = [min(table, (r + 1) ** 3) for r in resolutions]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        self.register_buffer("resolutions", torch.tensor(resolutions, dtype=torch.long), persistent=False)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets[:-1], dtype=torch.int32), persistent=False)
        # Levels whose grid fits the table are indexed directly; they always come first (resolutions grow).
        self.num_dense = sum(s == (r + 1) ** 3 for s, r in zip(sizes, resolutions))
        wrapped = [p - 2**32 if p >= 2**31 else p for p in _PRIMES]  # the same low 32 bits as int32
        self.register_buffer("primes", torch.tensor(wrapped, dtype=torch.int32), persistent=False)
        emb = torch.empty(offsets[-1], c.features_per_level, dtype=dtype)
        emb.uniform_(-1e-4, 1e-4, generator=generator)
        self.embeddings = nn.Parameter(emb)

    @property
    def output_dim(self) -> int:
        return self.config.num_levels * self.config.features_per_level

    def indices(self, base: torch.Tensor) -> torch.Tensor:
        """Lower voxel corners ``[N, L, 3]`` (integers) to rows of the flat table ``[N, L, 8]`` (int32).

        Corner ``k`` is ``base + (k & 1, (k >> 1) & 1, (k >> 2) & 1)``. Per-axis terms are computed for
        both corner offsets and combined by broadcasting. Arithmetic is int32 with wrap-around, which
        keeps the low bits of the paper's uint32 hash exactly (tables are powers of two).
        """
        ends = torch.stack([base, base + 1], dim=-1).int()  # [N, L, 3, 2]
        parts = []
        if self.num_dense > 0:
            e = ends[:, : self.num_dense]
            r1 = (self.resolutions[: self.num_dense] + 1).int().view(1, -1, 1)
            xy = e[:, :, 0, None, :] + (e[:, :, 1] * r1)[..., None]  # [N, Ld, 2(y), 2(x)]
            parts.append(xy[:, :, None] + (e[:, :, 2] * r1 * r1)[..., None, None])
        if self.num_dense < self.config.num_levels:
            e = ends[:, self.num_dense :]
            p = self.primes
            xy = torch.bitwise_xor((e[:, :, 0] * p[0])[:, :, None, :], (e[:, :, 1] * p[1])[..., None])
            h = torch.bitwise_xor(xy[:, :, None], (e[:, :, 2] * p[2])[..., None, None])
            parts.append(torch.bitwise_and(h, 2**self.config.log2_hashmap_size - 1))
        index = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return index.reshape(*base.shape[:2], 8) + self.offsets.view(1, -1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode points.

        Args:
            x: ``[N, 3]`` points in ``[0, 1]^3`` (values outside are clamped).

        Returns:
            ``[N, L * F]`` features, differentiable in ``x`` and the table.
        """
        x = x.clamp(0.0, 1.0).to(self.embeddings.dtype)
        pos = x[:, None, :] * self.resolutions.to(x.dtype).view(1, -1, 1)  # [N, L, 3]
        base = pos.detach().floor().long().clamp_max(self.resolutions.view(1, -1, 1) - 1)
        frac = pos - base.to(x.dtype)  # [N, L, 3]
        wts = torch.stack([1 - frac, frac], dim=-1)  # [N, L, 3, 2]
        w = wts[:, :, 2, :, None, None] * wts[:, :, 1, None, :, None] * wts[:, :, 0, None, None, :]
        index = self.indices(base).reshape(-1).long()
        feats = _GatherRows.apply(self.embeddings, index).view(*base.shape[:2], 8, self.config.features_per_level)
        return (w.reshape(*w.shape[:2], 8, 1) * feats).sum(2).reshape(x.shape[0], self.output_dim)


@dataclass(frozen=True)
class HashGridConfig:
    """Hash-grid field: hash encoding plus a small MLP to density and albedo."""

    encoding: HashEncodingConfig = field(default_factory=HashEncodingConfig)
    """Hash encoding."""
    hidden_dim: int = 64
    """MLP width."""
    num_hidden_layers: int = 1
    """Hidden layers of the MLP head."""
    radius: float = 1.0
    """Half-size of the cubic bounding box centred at the origin."""
    activation: DensityActivation = field(default_factory=lambda: DensityActivation(kind="exp", bias=-1.0))
    """Density activation, bias and DreamFusion blob."""
    mlp_lr_scale: float = 0.1
    """Learning rate of the MLP relative to the tables (threestudio's default ratio)."""


class HashGridField(Field):
    """Instant-NGP style field: ``HashEncoding -> MLP -> (density, albedo)``."""

    def __init__(self, config: HashGridConfig | None = None, generator: torch.Generator | None = None) -> None:
        config = config or HashGridConfig()
        r = config.radius
        super().__init__((-r, -r, -r, r, r, r), config.activation)
        self.config = config
        self.encoding = HashEncoding(config.encoding, generator)
        self.mlp = density_albedo_mlp(self.encoding.output_dim, config.hidden_dim, config.num_hidden_layers, nn.ReLU,
                                      generator)

    def _raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.mlp(self.encoding((x + 1.0) * 0.5).to(x.dtype))
        return out[:, 0], out[:, 1:]

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {"params": [self.encoding.embeddings], "lr": lr, "name": "hash_tables"},
            {"params": list(self.mlp.parameters()), "lr": lr * self.config.mlp_lr_scale, "name": "mlp"},
        ]
