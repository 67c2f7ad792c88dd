"""Pre-norm transformer blocks shared by the reconstruction model's encoder and decoders.

The block is the one of "Attention Is All You Need" (arXiv 1706.03762) in the pre-norm arrangement of
ViT ("An Image is Worth 16x16 Words", arXiv 2010.11929): self-attention, an optional cross-attention to
a context sequence (TGS's ``BasicTransformerBlock``, arXiv 2312.09147), and an MLP, each residual.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """``x [B, N, dim]`` (+ ``context [B, M, context_dim]``) -> ``[B, N, dim]``.

    Args:
        dim: token width.
        heads: attention heads (``dim`` must be divisible by it).
        context_dim: width of the cross-attention context; None for a self-attention-only block.
        mlp_ratio: hidden width of the MLP relative to ``dim``.
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"token width {dim} must be divisible by the number of heads {heads}")
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross = None
        if context_dim is not None:
            self.norm2 = nn.LayerNorm(dim)
            self.cross = nn.MultiheadAttention(dim, heads, kdim=context_dim, vdim=context_dim, batch_first=True)
        self.norm3 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        if self.cross is not None:
            if context is None:
                raise ValueError("this block cross-attends: pass a context sequence")
            x = x + self.cross(self.norm2(x), context, context, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


class Transformer(nn.Module):
    """A stack of :class:`Block` with a final LayerNorm (TGS's ``Transformer1D``)."""

    def __init__(self, dim: int, depth: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, context_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, context)
        return self.norm(x)
