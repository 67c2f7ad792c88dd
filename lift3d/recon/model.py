"""The feed-forward image-to-Gaussians model: "Triplane Meets Gaussian Splatting" (TGS, Zou et al.,
arXiv 2312.09147), sized from tiny (trains on a CPU) to the paper's size.

Pipeline: :class:`~lift3d.recon.encoder.ImageEncoder` (ViT) -> image tokens;
:class:`~lift3d.recon.point_decoder.PointDecoder` -> coarse points -> :class:`PointUpsampler` -> points;
:class:`~lift3d.recon.triplane_decoder.TriplaneDecoderNet` -> three feature planes;
:class:`~lift3d.recon.gaussian_head.GaussianHead` -> one Gaussian per point. The input is one RGBA image
from the canonical camera of :mod:`lift3d.recon.camera`; the Gaussians are in that camera's world frame.

Differences from TGS (all for CPU training): the encoder is a ViT trained from scratch instead of
DINOv2; the camera is fixed, so the camera-modulation MLP is dropped; upsampling is one point-splitting
stage instead of two SPD++ stages; TGS's point-cloud encoder is not used
(the Gaussian head gets the input RGB + mask sampled at each point's projection, TGS's
``points_projection`` without the visibility test, :mod:`lift3d.recon.projection`, and predicts the
colour as a residual on that pixel's colour); colour is RGB (SH degree 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from lift3d.recon.encoder import ImageEncoder
from lift3d.recon.gaussian_head import GaussianAttributes, GaussianHead
from lift3d.recon.point_decoder import PointDecoder, PointUpsampler
from lift3d.recon.projection import InputViewProjection
from lift3d.recon.triplane_decoder import TriplaneDecoderNet
from lift3d.scenes.gaussians import Gaussians, rgb_to_sh0


@dataclass(frozen=True)
class ReconArchitecture:
    """Sizes of :class:`TriplaneGaussianModel` (defaults: the shipped tiny model; see :meth:`paper`)."""

    image_size: int = 32
    """Input side in pixels."""
    patch_size: int = 4
    encoder_dim: int = 64
    encoder_depth: int = 2
    encoder_heads: int = 4
    decoder_dim: int = 64
    """Token width of the point and triplane decoders."""
    decoder_heads: int = 4
    point_queries: int = 128
    """Coarse points P."""
    point_depth: int = 2
    upsample_factor: int = 4
    """Children per coarse point: N = P * upsample_factor Gaussians."""
    max_child_offset: float = 0.15
    triplane_resolution: int = 8
    """Triplane token grid R (planes are 2R after upsampling)."""
    triplane_depth: int = 2
    plane_channels: int = 16
    head_hidden: int = 32
    radius: float = 0.75
    """Half-size of the box holding the points and the triplane."""
    max_gaussian_offset: float = 0.02
    init_scale: float = 0.03
    max_scale: float = 0.2
    init_opacity: float = 0.1

    @classmethod
    def paper(cls) -> ReconArchitecture:
        """TGS's sizes (DINOv2-base-like encoder at 252 px, 2048 -> 16384 points, 10-layer decoders)."""
        return cls(image_size=252, patch_size=14, encoder_dim=768, encoder_depth=12, encoder_heads=12,
                   decoder_dim=512, decoder_heads=8, point_queries=2048, point_depth=10, upsample_factor=8,
                   max_child_offset=0.1, triplane_resolution=32, triplane_depth=10, plane_channels=80,
                   head_hidden=128, radius=0.6, max_gaussian_offset=0.01875, init_scale=0.0067)

    def build(self) -> TriplaneGaussianModel:
        return TriplaneGaussianModel(**asdict(self))


_D = ReconArchitecture()


@dataclass
class ReconOutput:
    """What :meth:`TriplaneGaussianModel.forward` returns.

    Attributes:
        coarse: ``[B, P, 3]`` coarse points. points: ``[B, N, 3]`` upsampled points.
        planes: ``[B, 3, C, 2R, 2R]`` triplane. gaussians: per-point attributes (``N`` Gaussians).
    """

    coarse: torch.Tensor
    points: torch.Tensor
    planes: torch.Tensor
    gaussians: GaussianAttributes


class TriplaneGaussianModel(ModelMixin, ConfigMixin):
    """RGBA image ``[B, S, S, 4]`` (RGB over white + mask, canonical framing) -> Gaussians.

    Save and load with ``save_pretrained`` / ``from_pretrained`` (config.json + safetensors).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, image_size: int = _D.image_size, patch_size: int = _D.patch_size,
                 encoder_dim: int = _D.encoder_dim, encoder_depth: int = _D.encoder_depth,
                 encoder_heads: int = _D.encoder_heads, decoder_dim: int = _D.decoder_dim,
                 decoder_heads: int = _D.decoder_heads, point_queries: int = _D.point_queries,
                 point_depth: int = _D.point_depth, upsample_factor: int = _D.upsample_factor,
                 max_child_offset: float = _D.max_child_offset, triplane_resolution: int = _D.triplane_resolution,
                 triplane_depth: int = _D.triplane_depth, plane_channels: int = _D.plane_channels,
                 head_hidden: int = _D.head_hidden, radius: float = _D.radius,
                 max_gaussian_offset: float = _D.max_gaussian_offset, init_scale: float = _D.init_scale,
                 max_scale: float = _D.max_scale, init_opacity: float = _D.init_opacity) -> None:
        super().__init__()
        self.encoder = ImageEncoder(image_size, patch_size, encoder_dim, encoder_depth, encoder_heads)
        self.point_decoder = PointDecoder(point_queries, decoder_dim, point_depth, decoder_heads, encoder_dim,
                                          radius * 0.9)
        self.upsampler = PointUpsampler(decoder_dim, upsample_factor, max_child_offset)
        self.triplane = TriplaneDecoderNet(triplane_resolution, decoder_dim, triplane_depth, decoder_heads,
                                           encoder_dim, plane_channels)
        self.projection = InputViewProjection(image_size)
        self.head = GaussianHead(plane_channels, decoder_dim + 4, head_hidden, radius, max_gaussian_offset,
                                 init_scale, max_scale, init_opacity)

    def forward(self, images: torch.Tensor) -> ReconOutput:
        """``images [B, S, S, 4]`` in [0, 1] -> :class:`ReconOutput` with ``N = P * upsample_factor`` Gaussians."""
        tokens = self.encoder(images)
        coarse, feats = self.point_decoder(tokens)
        points, child_feats = self.upsampler(coarse, feats)
        planes = self.triplane(tokens)
        pixel = self.projection(images, points)  # [B, N, 4] input RGB + mask at each point's projection
        return ReconOutput(coarse, points, planes, self.head(planes, points, torch.cat([child_feats, pixel], -1),
                                                                pixel[..., :3]))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> list[Gaussians]:
        """One :class:`Gaussians` (SH degree 0, anisotropic) per image of ``images [B, S, S, 4]``."""
        out = self(images.to(self.device, self.dtype))
        return [to_gaussians(out.gaussians, i) for i in range(images.shape[0])]


def to_gaussians(attrs: GaussianAttributes, index: int = 0) -> Gaussians:
    """The ``index``-th batch element of ``attrs`` as a (detached, trainable) :class:`Gaussians` scene."""
    a = attrs
    sh0 = rgb_to_sh0(a.rgb[index])[:, None, :]
    shN = torch.zeros(sh0.shape[0], 0, 3, dtype=sh0.dtype, device=sh0.device)
    return Gaussians(a.means[index], a.quats[index], a.log_scales[index], a.opacity_logits[index], sh0, shN)
