"""The bundled novel-view prior: a small pixel-space Zero-1-to-3-style model trained on the procedural world.

"Zero-1-to-3: Zero-shot One Image to 3D Object", Liu et al., arXiv 2303.11328: a diffusion model of the
target view given a reference image and the relative camera. The bundled model keeps Zero123's design at
32 px in pixel space (like DeepFloyd IF stage I there is no VAE):

* the UNet input is the noisy target image concatenated with the reference image in [-1, 1]
  (6 channels instead of Zero123's 4 + 4 latent channels);
* the single cross-attention token is ``cc_projection([image_embed, T])`` where ``image_embed`` is a tiny
  ``CLIPVisionModelWithProjection`` trained jointly from scratch and ``T`` the relative pose in Stable
  Zero123's convention (:attr:`~lift3d.priors.zero123.PoseConvention.STABLE_ZERO123`: the training camera
  distance is fixed, so Zero123's ``dist - dist_ref`` would always be 0, while the reference's absolute
  polar angle tells the model how the reference was seen);
* the unconditional branch zeroes both the token and the reference image (as the real model does).

The folder has Zero123's diffusers layout without ``vae/`` (``unet/``, ``image_encoder/``,
``feature_extractor/``, ``cc_projection/``, ``scheduler/``, ``model_index.json`` with the pose convention
under ``lift3d``) and loads through :class:`~lift3d.priors.zero123.Zero123Config` like the real models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.priors.base import PredictionType
from lift3d.priors.zero123 import PoseConvention

NOVEL_VIEW_PRIOR_DIR = Path(__file__).resolve().parent.parent / "assets" / "novel-view32"
"""Where the trained bundled novel-view prior ships inside the package."""

NOVEL_VIEW_CONVENTION = PoseConvention.STABLE_ZERO123
"""The relative-pose encoding the bundled model is trained with (recorded in its model_index.json)."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class NovelViewArchitecture:
    """Sizes of the bundled novel-view prior's networks."""

    resolution: int = 32
    """Image side in pixels (pixel-space prior)."""
    block_out_channels: tuple[int, ...] = (32, 64, 96, 128)
    """UNet channels per resolution level."""
    attention_levels: int = 1
    """How many of the lowest-resolution levels have cross-attention blocks (the mid block always has one)."""
    layers_per_block: int = 1
    embed_dim: int = 64
    """Width of the image embedding, the projected token and the UNet's cross-attention."""
    encoder_width: int = 64
    encoder_layers: int = 2
    patch_size: int = 4
    prediction_type: PredictionType = PredictionType.EPSILON
    """What the UNet is trained to predict (recorded in ``scheduler/``; :mod:`lift3d.train.diffusion_objective`)."""

    def unet(self) -> Any:
        from diffusers import UNet2DConditionModel

        n = len(self.block_out_channels)
        plain, attn = n - self.attention_levels, self.attention_levels
        return UNet2DConditionModel(
            sample_size=self.resolution,
            in_channels=6,
            out_channels=3,
            block_out_channels=self.block_out_channels,
            layers_per_block=self.layers_per_block,
            down_block_types=("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * attn,
            up_block_types=("CrossAttnUpBlock2D",) * attn + ("UpBlock2D",) * plain,
            cross_attention_dim=self.embed_dim,
            attention_head_dim=16,
            norm_num_groups=16,
        )

    def image_encoder(self) -> Any:
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        config = CLIPVisionConfig(hidden_size=self.encoder_width, intermediate_size=2 * self.encoder_width,
                                  num_hidden_layers=self.encoder_layers, num_attention_heads=4,
                                  image_size=self.resolution, patch_size=self.patch_size, projection_dim=self.embed_dim)
        return CLIPVisionModelWithProjection(config)

    def cc_projection(self) -> Any:
        from lift3d.priors.cc_projection import CCProjection

        return CCProjection(self.embed_dim + 4, self.embed_dim)

    def scheduler(self) -> Any:
        from lift3d.priors.bundled import pixel_scheduler

        return pixel_scheduler(self.prediction_type)

    def preprocessor_config(self) -> dict[str, Any]:
        """``feature_extractor/preprocessor_config.json`` (CLIP layout; the crop is the full image)."""
        r = self.resolution
        return {"crop_size": {"height": r, "width": r}, "do_center_crop": True, "do_normalize": True,
                "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(CLIP_MEAN),
                "image_std": list(CLIP_STD), "resample": 3, "size": {"shortest_edge": r}}


def save_novel_view(path: Path, arch: NovelViewArchitecture, unet: Any, image_encoder: Any, cc_projection: Any,
                    scheduler: Any, extra: dict[str, Any] | None = None) -> None:
    """Write the diffusers-style folder (safetensors weights, JSON configs, no ``vae/``)."""
    from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(path / "unet", safe_serialization=True)
    image_encoder.save_pretrained(path / "image_encoder", safe_serialization=True)
    cc_projection.save_pretrained(path / "cc_projection", safe_serialization=True)
    scheduler.save_pretrained(path / "scheduler")
    (path / "feature_extractor").mkdir(exist_ok=True)
    (path / "feature_extractor" / "preprocessor_config.json").write_text(
        json.dumps(arch.preprocessor_config(), indent=2) + "\n")
    index = {
        "_class_name": "Lift3dNovelViewPrior",
        "_diffusers_version": __import__("diffusers").__version__,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "cc_projection": ["lift3d.priors.cc_projection", "CCProjection"],
        "scheduler": ["diffusers", "DDPMScheduler"],
        "lift3d": {"pose_convention": NOVEL_VIEW_CONVENTION.value, "pixel_space": True,
                   "train_distance": TRAIN_DISTANCE, "train_fov_deg": TRAIN_FOV_DEG, **(extra or {})},
    }
    (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def load_novel_view_prior(path: Path | str = NOVEL_VIEW_PRIOR_DIR, device: str = "cpu") -> Any:
    """The bundled novel-view prior through the public Zero123 loader (:class:`Zero123Config`)."""
    from lift3d.priors.stable_diffusion import LoadOptions
    from lift3d.priors.zero123 import Zero123Config

    return Zero123Config(model=str(path), load=LoadOptions(device=device, dtype="float32")).build()



def pair_conditions(prior: Any, reference: torch.Tensor, pose: torch.Tensor) -> Any:
    """Conditions for ``B`` different reference images ``[B, R, R, 3]`` in [0, 1] and poses ``[B, 4]``.

    The batched form of ``Zero123Prior.image_conditions`` + ``camera_condition`` (same preprocessing) for
    evaluation on many pairs at once; pixel-space priors only.
    """
    from lift3d.priors.base import Conditions
    from lift3d.priors.zero123 import clip_pixels
    from lift3d.types import LiftError

    if prior.vae is not None:
        raise LiftError("pair_conditions is for the pixel-space bundled novel-view prior (this model has a VAE)")
    if reference.ndim != 4 or reference.shape[-1] != 3 or pose.shape != (reference.shape[0], 4):
        raise LiftError(f"need references [B, R, R, 3] and poses [B, 4], got {tuple(reference.shape)} and "
                        f"{tuple(pose.shape)}")
    device = prior.alphas_cumprod.device
    x = reference.permute(0, 3, 1, 2).float().to(device)
    with torch.no_grad():
        embed = prior.image_encoder(pixel_values=clip_pixels(x, prior.clip_size, prior.clip_mean, prior.clip_std))
    text = embed.image_embeds.float()[:, None, :]
    image = prior.encode(reference.float().to(device))
    return Conditions(text=text, uncond=torch.zeros_like(text), image=image, camera=pose.float().to(device))
