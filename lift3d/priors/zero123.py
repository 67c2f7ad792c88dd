"""Zero-1-to-3 (XL) and Stable Zero123: image-conditioned novel-view priors in diffusers layout.

"Zero-1-to-3: Zero-shot One Image to 3D Object", Liu et al., arXiv 2303.11328; Stable Zero123
(Stability AI, 2023) is the same network retrained with another pose encoding. Folder layout
(kxic/zero123-xl, ashawkey/zero123-xl-diffusers, ashawkey/stable-zero123-diffusers): ``unet/`` (8 input
channels = noisy latent + reference latent), ``vae/``, ``image_encoder/`` (CLIPVisionModelWithProjection),
``feature_extractor/`` (CLIP preprocessing), ``cc_projection/`` (``Linear(772 -> 768)``), ``scheduler/``.

Conditioning (guidance.md 5.2): the cross-attention token is ``cc_projection([clip_image_embed, T])``
with the relative pose ``T`` of the rendered camera w.r.t. the reference view, polar = 90 - elevation:

* Zero123:        ``T = [rad(polar - polar_ref), sin(rad(az - az_ref)), cos(rad(az - az_ref)), dist - dist_ref]``
* Stable Zero123: ``T = [rad(polar - polar_ref), sin(rad(az - az_ref)), cos(rad(az - az_ref)), rad(polar_ref)]``

(threestudio's ``zero123_guidance`` / ``stable_zero123_guidance``; lift3d's azimuth and elevation are
threestudio's). The concatenated reference latent is the VAE posterior mode *without* the scaling
factor (as in the original LDM code). The unconditional branch zeroes both the projected token and
the reference latent. Kept in float32 by default (the model is unstable in fp16, threestudio and
stable-dreamfusion note).

A folder without ``vae/`` whose UNet takes 6 input channels is a pixel-space model (lift3d's bundled
novel-view prior, :mod:`lift3d.priors.bundled_novel_view`): the reference image in [-1, 1] is concatenated
directly. A folder may record its pose convention under ``lift3d.pose_convention`` in ``model_index.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lift3d.cameras import Cameras
from lift3d.priors.base import Branch, Conditions, to_epsilon
from lift3d.priors.hub import check_folder, resolve_model
from lift3d.priors.stable_diffusion import LoadOptions, load_scheduler, load_vae, place, resolve_placement, weights
from lift3d.priors.unet import UNetPrior
from lift3d.types import LiftError


class PoseConvention(str, Enum):
    """The 4th entry of the relative pose and which models use it."""

    ZERO123 = "zero123"
    """``dist - dist_ref`` (Zero-1-to-3, Zero123-XL)."""
    STABLE_ZERO123 = "stable-zero123"
    """``rad(90 - elevation_ref)``, the reference view's absolute polar angle (Stable Zero123)."""


@dataclass(frozen=True)
class ReferenceView:
    """Where the conditioning image was taken from (lift3d spherical coordinates)."""

    elevation_deg: float = 0.0
    azimuth_deg: float = 0.0
    distance: float = 3.8

    @classmethod
    def from_camera(cls, camera: Cameras) -> ReferenceView:
        el, az, dist = camera.spherical()
        return cls(float(el[0]), float(az[0]), float(dist[0]))


def relative_pose(cameras: Cameras, reference: ReferenceView, convention: PoseConvention) -> torch.Tensor:
    """``[B, 4]`` relative pose ``T`` of ``cameras`` w.r.t. ``reference`` (see module docstring)."""
    el, az, dist = cameras.spherical()
    ref = [torch.full_like(el, v) for v in (reference.elevation_deg, reference.azimuth_deg, reference.distance)]
    return relative_pose_from_angles(el, az, dist, *ref, convention)


def relative_pose_from_angles(el: torch.Tensor, az: torch.Tensor, dist: torch.Tensor, el_ref: torch.Tensor,
                              az_ref: torch.Tensor, dist_ref: torch.Tensor, convention: PoseConvention) -> torch.Tensor:
    """``[B, 4]`` relative pose from target and reference angles in degrees (``[B]`` each; per-sample references)."""
    d_polar = torch.deg2rad((90.0 - el) - (90.0 - el_ref))
    d_az = torch.deg2rad(az - az_ref)
    if PoseConvention(convention) is PoseConvention.ZERO123:
        last = dist - dist_ref
    else:
        last = torch.deg2rad(90.0 - el_ref).to(dist.dtype)
    return torch.stack([d_polar, d_az.sin(), d_az.cos(), last], dim=-1)


def clip_pixels(x: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Image-encoder input from ``[B, 3, H, W]`` images in [0, 1]: bicubic resize to ``size``, CLIP normalisation."""
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return (x.clamp(0, 1) - mean) / std


def folder_convention(folder: Path) -> PoseConvention | None:
    """The pose convention a folder records under ``lift3d.pose_convention`` in ``model_index.json``, if any."""
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    value = json.loads(index.read_text()).get("lift3d", {}).get("pose_convention")
    return None if value is None else PoseConvention(value)


class Zero123Prior(UNetPrior):
    """Novel-view latent prior; call :meth:`image_conditions` with the reference image first."""

    lora_phi = False
    """Its UNet also takes the reference latent (8 input channels): VSD's phi is the small network instead."""

    def __init__(self, unet: Any, scheduler: Any, vae: Any, image_encoder: Any, cc_projection: torch.nn.Module,
                 clip_size: int, clip_mean: Sequence[float], clip_std: Sequence[float],
                 convention: PoseConvention = PoseConvention.ZERO123) -> None:
        super().__init__(unet, scheduler, vae)
        if int(unet.config.in_channels) != 2 * self.channels:
            raise ValueError(f"a Zero123 UNet takes {2 * self.channels} input channels, got {unet.config.in_channels}")
        self.image_encoder = image_encoder.requires_grad_(False).eval()
        self.cc_projection = cc_projection.requires_grad_(False).eval()
        self.clip_size = clip_size
        self.register_buffer("clip_mean", torch.tensor(clip_mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(clip_std).reshape(1, 3, 1, 1), persistent=False)
        self.convention = PoseConvention(convention)
        self.reference: ReferenceView | None = None

    @torch.no_grad()
    def image_conditions(self, image: torch.Tensor, reference: ReferenceView, batch: int = 1) -> Conditions:
        """Conditions from a reference image ``[1, H, W, 3|4]`` in [0, 1] (RGBA is composited on white).

        Sets :attr:`reference` (used by :meth:`camera_condition`). Returns ``text`` = CLIP image
        embedding ``[B, 1, D]``, ``uncond`` = zeros like it, ``image`` = reference latent ``[B, 4, h, w]``
        (pixel-space models: the reference image in [-1, 1], ``[B, 3, R, R]``).
        """
        if image.ndim != 4 or image.shape[0] != 1 or image.shape[-1] not in (3, 4):
            raise ValueError(f"reference image must be [1, H, W, 3 or 4] in [0, 1], got {tuple(image.shape)}")
        if image.shape[-1] == 4:
            image = image[..., :3] * image[..., 3:] + (1.0 - image[..., 3:])
        x = image.permute(0, 3, 1, 2).float().to(self.alphas_cumprod.device)
        clip_in = clip_pixels(x, self.clip_size, self.clip_mean, self.clip_std)
        embed = self.image_encoder(pixel_values=clip_in.to(self.image_encoder.dtype)).image_embeds.float()
        x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", align_corners=False) * 2.0 - 1.0
        if self.vae is None:  # pixel space: the reference image itself is concatenated
            latent = x
        else:
            latent = self.vae.encode(x.to(self.vae.dtype)).latent_dist.mode().float()  # unscaled, as in Zero123
        self.reference = reference
        text = embed[:, None, :].expand(batch, -1, -1)
        return Conditions(text=text, uncond=torch.zeros_like(text), image=latent.expand(batch, -1, -1, -1))

    def camera_condition(self, cameras: Cameras) -> torch.Tensor:
        """``[B, 4]`` relative pose w.r.t. :attr:`reference` in this model's convention."""
        if self.reference is None:
            raise ValueError("call prior.image_conditions(image, ReferenceView(...)) before using Zero123.")
        return relative_pose(cameras, self.reference, self.convention).to(self.alphas_cumprod.device)

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, conditions: Conditions,
                branches: Sequence[Branch]) -> dict[Branch, torch.Tensor]:
        """Epsilon for TEXT (the image-and-pose branch) and UNCOND (zeros) in one UNet call."""
        b, names = x_t.shape[0], [Branch(n) for n in branches]
        if conditions.image is None or conditions.text is None or conditions.camera is None:
            raise ValueError("Zero123 needs conditions from prior.image_conditions(...) and cameras (relative pose).")
        embed = conditions.text.expand(b, -1, -1)
        tokens = self.cc_projection(torch.cat([embed, conditions.camera.expand(b, -1)[:, None, :]], dim=-1)
                                    .to(self.cc_projection.dtype)).float()
        latent = conditions.image.expand(b, -1, -1, -1)
        states, concat = [], []
        for name in names:
            if name is Branch.TEXT:
                states.append(tokens), concat.append(latent)
            elif name is Branch.UNCOND:
                states.append(torch.zeros_like(tokens)), concat.append(torch.zeros_like(latent))
            else:
                raise ValueError(f"Zero123 has only the image ('text') and unconditional branches, not {name.value!r}")
        n = len(names)
        x_in = torch.cat([x_t.repeat(n, 1, 1, 1), torch.cat(concat)], dim=1)
        eps = self.forward_unet_concat(x_in, x_t.repeat(n, 1, 1, 1), t.repeat(n), torch.cat(states))
        return dict(zip(names, eps.chunk(n, dim=0)))

    def forward_unet_concat(self, x_in: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                            states: torch.Tensor) -> torch.Tensor:
        """Epsilon ``[N, 4, h, w]`` from the 8-channel input ``x_in`` (``x_t`` is its first half)."""
        dtype = self.unet.dtype
        raw = self.unet(x_in.to(dtype), t, encoder_hidden_states=states.to(dtype)).sample.float()
        return to_epsilon(raw, x_t, t, self.alphas_cumprod, self.prediction_type)


def clip_preprocessing(folder: Path) -> tuple[int, list[float], list[float]]:
    """(crop size, mean, std) from ``feature_extractor/preprocessor_config.json``."""
    cfg = json.loads((folder / "feature_extractor" / "preprocessor_config.json").read_text())
    crop = cfg.get("crop_size", 224)
    size = int(crop["height"] if isinstance(crop, dict) else crop)
    return size, list(cfg["image_mean"]), list(cfg["image_std"])


@dataclass(frozen=True)
class Zero123Config:
    """Zero-1-to-3 / Stable Zero123 novel-view prior (latent space, 256 px, image-conditioned)."""

    model: str = "ashawkey/zero123-xl-diffusers"
    """Hub id or local folder (unet/, vae/, image_encoder/, feature_extractor/, cc_projection/ or
    clip_camera_projection/, scheduler/)."""
    convention: PoseConvention | None = None
    """Pose encoding: ``zero123`` (Zero123, Zero123-XL) or ``stable-zero123``; None = the one the folder records
    (``lift3d.pose_convention`` in model_index.json, lift3d's bundled model), else ``stable-zero123`` when the
    model's name contains "stable-zero123" (e.g. ashawkey/stable-zero123-diffusers), else ``zero123``."""
    load: LoadOptions = field(default_factory=lambda: LoadOptions(dtype="float32"))
    """Device, precision (float32 by default: Zero123 is unstable in fp16) and offload."""

    def pose_convention(self, folder: Path | None = None) -> PoseConvention:
        """The configured convention, else the one ``folder`` records, else the one implied by the model's name."""
        if self.convention is not None:
            return PoseConvention(self.convention)
        recorded = None if folder is None else folder_convention(folder)
        if recorded is not None:
            return recorded
        name = Path(self.model).name.lower()
        return PoseConvention.STABLE_ZERO123 if "stable-zero123" in name else PoseConvention.ZERO123

    def build(self) -> Zero123Prior:
        from diffusers import UNet2DConditionModel
        from transformers import CLIPVisionModelWithProjection

        from lift3d.priors.cc_projection import PROJECTION_FOLDERS

        folder = resolve_model(self.model, "Zero123 prior", revision=self.load.revision, variant=self.load.variant,
                               required=("unet/config.json", "image_encoder/config.json",
                                         "feature_extractor/preprocessor_config.json",
                                         "scheduler/scheduler_config.json"))
        subfolder = next((name for name in PROJECTION_FOLDERS if (folder / name).is_dir()), None)
        if subfolder is None:
            raise LiftError(f"Zero123 prior {self.model!r} has neither cc_projection/ nor clip_camera_projection/: "
                            f"it is not a Zero123 model folder.")
        check_folder(folder, self.model, "Zero123 prior", (f"{subfolder}/config.json",))
        load = self.load if self.load.dtype != "auto" else replace(self.load, dtype="float32")
        device, dtype = resolve_placement(load)
        in_channels = json.loads((folder / "unet" / "config.json").read_text()).get("in_channels")
        pixel_space = not (folder / "vae").is_dir() and in_channels == 6  # noisy RGB + reference RGB
        if not pixel_space:
            check_folder(folder, self.model, "Zero123 prior", ("vae/config.json",))
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **weights(load, dtype))
        encoder = CLIPVisionModelWithProjection.from_pretrained(folder, subfolder="image_encoder",
                                                                **weights(load, dtype, True))
        proj = PROJECTION_FOLDERS[subfolder].from_pretrained(folder, subfolder=subfolder, **weights(load, dtype))
        size, mean, std = clip_preprocessing(folder)
        offload = load.cpu_offload
        prior = Zero123Prior(place(unet, device, offload), load_scheduler(folder),
                             None if pixel_space else place(load_vae(folder, load, dtype), device, offload),
                             place(encoder, device, offload), place(proj, device, offload), size, mean, std,
                             self.pose_convention(folder))
        return prior.to(device) if not offload else prior
