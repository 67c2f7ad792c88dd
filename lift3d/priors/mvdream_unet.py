"""MVDream's multi-view UNet as a diffusers ``ModelMixin``/``ConfigMixin``.

"MVDream: Multi-view Diffusion for 3D Generation", Shi et al., arXiv 2308.16512. The network is the
Stable Diffusion (LDM "openaimodel") UNet with two changes:

* a camera embedding ``camera_embed = Linear(16, 4C) - SiLU - Linear(4C, 4C)`` of the flattened
  camera-to-world matrix, added to the timestep embedding;
* "3D" self-attention: in every transformer block the tokens of the F views of one sample are
  concatenated before ``attn1`` (``(b f) l c -> b (f l) c``); cross-attention to the text stays per view.

Module and parameter names follow the original LDM layout (``time_embed``, ``camera_embed``,
``input_blocks.<i>.<j>``, ``middle_block``, ``output_blocks``, ``out``; ResBlocks with ``in_layers``,
``emb_layers``, ``out_layers``, ``skip_connection``; transformers with ``norm``, ``proj_in``,
``transformer_blocks.<k>.{attn1,attn2,ff,norm1..3}``, ``proj_out``), which is also the layout of the
diffusers port ashawkey/mvdream-sd2.1-diffusers, so its ``unet/`` loads directly and the released
checkpoint converts by renaming only (``lift3d.priors.mvdream.convert_mvdream_checkpoint``).
Written here (not imported) because diffusers ships no multi-view UNet. Attention uses PyTorch SDPA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """LDM sinusoidal embedding ``[N, dim]`` = ``[cos(t f_k), sin(t f_k)]``, ``f_k = max_period^(-k / (dim/2))``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=-1)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 (as LDM's ``normalization``), cast back to the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class ResBlock(nn.Module):
    """LDM residual block conditioned on the (time + camera) embedding."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(GroupNorm32(groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(GroupNorm32(groups, out_channels), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb).type(x.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Attention(nn.Module):
    """Multi-head (cross-)attention with bias-free q/k/v projections."""

    def __init__(self, dim: int, context_dim: int | None, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q, k, v = (p(s).unflatten(-1, (self.heads, -1)).transpose(1, 2)
                   for p, s in ((self.to_q, x), (self.to_k, context), (self.to_v, context)))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).flatten(2))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock3D(nn.Module):
    """Self-attention across all views of a sample, then per-view cross-attention and a GEGLU MLP."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int) -> None:
        super().__init__()
        self.attn1 = Attention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = Attention(dim, context_dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        n, length, c = x.shape
        joint = x.reshape(n // num_frames, num_frames * length, c)  # (b f) l c -> b (f l) c
        x = (self.attn1(self.norm1(joint)) + joint).reshape(n, length, c)
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer3D(nn.Module):
    """GroupNorm -> proj_in -> transformer blocks over ``h*w`` tokens -> proj_out, residual."""

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int, depth: int, groups: int,
                 use_linear: bool) -> None:
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner) if use_linear else nn.Conv2d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock3D(inner, heads, dim_head, context_dim) for _ in range(depth)])
        self.proj_out = nn.Linear(inner, channels) if use_linear else nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        if not self.use_linear:
            y = self.proj_in(y)
        y = y.flatten(2).transpose(1, 2)
        if self.use_linear:
            y = self.proj_in(y)
        for block in self.transformer_blocks:
            y = block(y, context, num_frames)
        if self.use_linear:
            y = self.proj_out(y)
        y = y.transpose(1, 2).reshape(b, -1, h, w)
        return x + (y if self.use_linear else self.proj_out(y))


class CondSequential(nn.Sequential):
    """Routes the embedding to ResBlocks and the context to transformers."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer3D):
                x = layer(x, context, num_frames)
            else:
                x = layer(x)
        return x


class MultiViewUNet(ModelMixin, ConfigMixin, PeftAdapterMixin):
    """MVDream's camera-conditioned multi-view UNet (config keys as in ashawkey/mvdream-sd2.1-diffusers).

    Args:
        image_size: latent side (32 for MVDream at 256 px).
        in_channels, out_channels: latent channels (4).
        model_channels: base width C (320).
        num_res_blocks: ResBlocks per level (2).
        attention_resolutions: downsampling factors with attention ((4, 2, 1)).
        channel_mult: width multipliers per level ((1, 2, 4, 4)).
        num_head_channels: channels per head (64); or ``num_heads`` heads when it is -1.
        num_heads: heads (used when ``num_head_channels == -1``).
        transformer_depth: transformer blocks per attention layer (1).
        context_dim: text-state width (1024 for OpenCLIP-H).
        camera_dim: flattened camera size (16), or None for no camera embedding.
        use_linear_in_transformer: linear (SD 2.x) or 1x1-conv (SD 1.x) proj_in/proj_out.
        norm_num_groups: GroupNorm groups (32 in the released models; smaller only for tiny test models).
        sample_size: alias of ``image_size`` under diffusers' name (filled in when absent).
    """

    @register_to_config
    def __init__(self, image_size: int = 32, in_channels: int = 4, out_channels: int = 4, model_channels: int = 320,
                 num_res_blocks: int = 2, attention_resolutions: Sequence[int] = (4, 2, 1),
                 channel_mult: Sequence[int] = (1, 2, 4, 4), num_head_channels: int = 64, num_heads: int = -1,
                 transformer_depth: int = 1, context_dim: int = 1024, camera_dim: int | None = 16,
                 use_linear_in_transformer: bool = True, norm_num_groups: int = 32,
                 sample_size: int | None = None) -> None:
        super().__init__()
        if sample_size is None:  # diffusers' name for the latent side, read by UNetPrior
            self.register_to_config(sample_size=image_size)
        c, g, emb = model_channels, norm_num_groups, model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(c, emb), nn.SiLU(), nn.Linear(emb, emb))
        if camera_dim is not None:
            self.camera_embed = nn.Sequential(nn.Linear(camera_dim, emb), nn.SiLU(), nn.Linear(emb, emb))

        def attn(ch: int) -> SpatialTransformer3D:
            heads = ch // num_head_channels if num_head_channels != -1 else num_heads
            return SpatialTransformer3D(ch, heads, ch // heads, context_dim, transformer_depth, g,
                                        use_linear_in_transformer)

        self.input_blocks = nn.ModuleList([CondSequential(nn.Conv2d(in_channels, c, 3, padding=1))])
        chans, ch, ds = [c], c, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb, mult * c, g)]
                ch = mult * c
                if ds in attention_resolutions:
                    layers.append(attn(ch))
                self.input_blocks.append(CondSequential(*layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(CondSequential(Downsample(ch)))
                chans.append(ch)
                ds *= 2
        self.middle_block = CondSequential(ResBlock(ch, emb, ch, g), attn(ch), ResBlock(ch, emb, ch, g))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb, mult * c, g)]
                ch = mult * c
                if ds in attention_resolutions:
                    layers.append(attn(ch))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(CondSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(c, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                camera: torch.Tensor | None = None, num_frames: int = 1) -> torch.Tensor:
        """Noise prediction ``[B*F, C, h, w]`` for ``x`` ``[B*F, C, h, w]`` (views of a sample adjacent).

        Args:
            timesteps: ``[B*F]``; context: ``[B*F, L, context_dim]``; camera: ``[B*F, camera_dim]``.
            num_frames: F, the views denoised jointly (4 for MVDream; 1 = independent images).
        """
        if x.shape[0] % num_frames:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of num_frames={num_frames}")
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(x.dtype))
        if self.config.camera_dim is not None:
            if camera is None:
                raise ValueError("this multi-view UNet is camera-conditioned: pass camera [B*F, 16]")
            emb = emb + self.camera_embed(camera.to(x.dtype))
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb, context, num_frames)
            hs.append(h)
        h = self.middle_block(h, emb, context, num_frames)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, context, num_frames)
        return self.out(h)
