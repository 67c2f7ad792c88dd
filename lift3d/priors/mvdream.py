"""MVDream: a camera-conditioned prior that denoises 4 views of one object jointly.

"MVDream: Multi-view Diffusion for 3D Generation", Shi et al., arXiv 2308.16512. Stable Diffusion 2.1-base's
VAE and OpenCLIP-H text encoder (frozen in MVDream's training) with :class:`MultiViewUNet` at 256 px
(latent 32x32). A batch is a multiple of ``num_frames`` (4): consecutive groups of 4 images are the
views of one sample and must share the timestep (use ``TimestepSchedule(shared=True)``).

Camera condition (guidance.md 5.1; MVDream ``camera_utils.normalize_camera`` and MVDream-threestudio):
the camera-to-world matrix in a +Z-up world with OpenGL/Blender camera axes (x right, y up, z
backward), translation scaled to unit length, flattened row-major to 16 numbers. lift3d's world is
already +Z up with azimuth from +X toward +Y (threestudio's), so only the camera axes flip
(OpenCV y down / z forward -> y up / z backward). MVDream's own ``get_camera(elevation, azimuth)``
counts azimuth from -Y: its azimuth ``a`` is lift3d azimuth ``a - 90``; ``tests/test_priors_mvdream.py``
pins this against a re-derivation of that function.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lift3d.cameras import Cameras
from lift3d.priors.base import to_epsilon
from lift3d.priors.hub import resolve_model
from lift3d.priors.stable_diffusion import (
    LoadOptions,
    PipelinePriorSpec,
    TextConditionedPrior,
    load_clip_prompt_encoder,
    load_scheduler,
    load_vae,
    place,
    resolve_placement,
    weights,
)
from lift3d.types import LiftError

if TYPE_CHECKING:
    from lift3d.priors.mvdream_unet import MultiViewUNet

ORIGINAL_UNET_PREFIX = "model.diffusion_model."
"""Prefix of the UNet in the released LDM checkpoints (sd-v2.1-base-4view.pt, sd-v1.5-4view.pt)."""

MVDREAM_SD21_UNET: dict[str, Any] = {
    "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320, "num_res_blocks": 2,
    "attention_resolutions": [4, 2, 1], "channel_mult": [1, 2, 4, 4], "num_head_channels": 64,
    "transformer_depth": 1, "context_dim": 1024, "camera_dim": 16, "use_linear_in_transformer": True,
}
"""UNet config of sd-v2.1-base-4view (MVDream ``configs/sd-v2-base.yaml``)."""


def mvdream_camera(cameras: Cameras) -> torch.Tensor:
    """``[B, 16]`` MVDream camera condition: OpenGL-axes c2w with unit-length translation, flattened."""
    c2w = cameras.c2w.float().clone()
    c2w[:, :3, 1:3] = -c2w[:, :3, 1:3]
    c2w[:, :3, 3] = c2w[:, :3, 3] / (c2w[:, :3, 3].norm(dim=-1, keepdim=True) + 1e-8)
    return c2w.reshape(len(cameras), 16)


class MVDreamPrior(TextConditionedPrior):
    """Multi-view latent prior; ``predict`` runs every branch of every 4-view group in one UNet call."""

    num_frames: int = 4

    def camera_condition(self, cameras: Cameras) -> torch.Tensor:
        return mvdream_camera(cameras).to(self.alphas_cumprod.device)

    def forward_unet(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor,
                     camera: torch.Tensor | None = None, raw: bool = False) -> torch.Tensor:
        """Epsilon ``[N, 4, h, w]`` (native output if ``raw``); N a multiple of ``num_frames`` with one timestep
        per group."""
        f = self.num_frames
        if x_t.shape[0] % f:
            raise ValueError(f"MVDream denoises groups of {f} views: batch {x_t.shape[0]} is not a multiple of {f}; "
                             f"sample cameras in groups of {f} (e.g. azimuths start + k*90).")
        if (t.reshape(-1, f) != t.reshape(-1, f)[:, :1]).any():
            raise ValueError("the views of one MVDream sample need one timestep: use TimestepSchedule(shared=True).")
        if camera is None:
            raise ValueError("MVDream needs conditions.camera: pass cameras to the guidance "
                             "(or prior.camera_condition(cameras)).")
        dtype = self.unet.dtype
        out = self.unet(x_t.to(dtype), t, embeddings.to(dtype), camera.to(dtype), num_frames=f).float()
        return out if raw else to_epsilon(out, x_t, t, self.alphas_cumprod, self.prediction_type)


@dataclass(frozen=True)
class MVDreamConfig(PipelinePriorSpec):
    """MVDream multi-view prior (latent space, 256 px, 4 views per sample)."""

    KIND = "mvdream"
    camera_conditioned = True

    model: str = "ashawkey/mvdream-sd2.1-diffusers"
    """Hub id or local folder (model_index.json, unet/ (MultiViewUNet), vae/, text_encoder/, tokenizer/,
    scheduler/); a converted original checkpoint (``convert_mvdream_checkpoint``) has this layout."""
    num_frames: int = 4
    """Views denoised jointly (the released models are trained with 4)."""
    load: LoadOptions = field(default_factory=LoadOptions)
    """Device, precision, offload and prompt cache."""

    def build(self, device: torch.device | str | None = None) -> MVDreamPrior:
        """Load the prior (on ``device`` when given, else ``load.device``)."""
        from lift3d.priors.mvdream_unet import MultiViewUNet

        load = self.on(device)
        folder = resolve_model(self.model, "MVDream prior", revision=load.revision, variant=load.variant,
                               required=("unet/config.json", "vae/config.json", "text_encoder/config.json",
                                         "scheduler/scheduler_config.json"))
        device, dtype = resolve_placement(load)
        unet = MultiViewUNet.from_pretrained(folder, subfolder="unet", **weights(load, dtype))
        prior = MVDreamPrior(place(unet, device, load.cpu_offload), load_scheduler(folder),
                             place(load_vae(folder, load, dtype), device, load.cpu_offload))
        prior.num_frames = self.num_frames
        prior.alphas_cumprod = prior.alphas_cumprod.to(device)
        prior.prompt_encoder = load_clip_prompt_encoder(folder, self.model, load, device, dtype)
        return prior


def convert_original_unet(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a released MVDream LDM state dict (``model.diffusion_model.*``) to :class:`MultiViewUNet` keys.

    ``first_stage_model.*`` (SD 2.1's VAE) and ``cond_stage_model.*`` (OpenCLIP-H) are frozen copies of
    Stable Diffusion 2.1-base's and are taken from that model's diffusers folder instead.
    """
    out = {k[len(ORIGINAL_UNET_PREFIX):]: v for k, v in state_dict.items() if k.startswith(ORIGINAL_UNET_PREFIX)}
    if not out:
        raise LiftError(f"no '{ORIGINAL_UNET_PREFIX}*' keys in the checkpoint: it is not an original MVDream "
                        f"(LDM) checkpoint; diffusers-layout folders load directly with --prior PATH.")
    return out


def load_converted_unet(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> MultiViewUNet:
    """A :class:`MultiViewUNet` from ``config`` holding the converted weights (every key must match)."""
    from lift3d.priors.mvdream_unet import MultiViewUNet

    unet = MultiViewUNet(**config)
    converted = convert_original_unet(state_dict)
    expected = unet.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong = sorted(k for k in set(expected) & set(converted) if expected[k].shape != converted[k].shape)
    if missing or unexpected or wrong:
        raise LiftError(f"MVDream checkpoint does not match the UNet config: {len(missing)} missing keys "
                        f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), {len(wrong)} "
                        f"with other shapes (e.g. {wrong[:2]}); pass the config the checkpoint was trained with.")
    unet.load_state_dict(converted, strict=True)
    return unet


def convert_mvdream_checkpoint(checkpoint: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                               base: str = "stabilityai/stable-diffusion-2-1-base",
                               unet_config: Mapping[str, Any] = MVDREAM_SD21_UNET) -> Path:
    """Write a diffusers-layout MVDream folder from a released checkpoint saved as safetensors.

    Args:
        checkpoint: ``sd-v2.1-base-4view`` state dict as ``.safetensors`` (convert the pickled ``.pt``
            once, consciously, as docs/priors.md shows; lift3d never unpickles).
        out_dir: the folder to write (``unet/`` + ``vae/``, ``text_encoder/``, ``tokenizer/``,
            ``scheduler/`` copied from ``base``).
        base: the Stable Diffusion folder or hub id whose VAE/text encoder MVDream was trained with.
        unet_config: :class:`MultiViewUNet` config of the checkpoint.
    """
    from safetensors.torch import load_file

    path = Path(checkpoint)
    if path.suffix != ".safetensors":
        raise LiftError(f"{path} is not a .safetensors file; lift3d never unpickles checkpoints: convert it as in "
                        f"docs/priors.md ('MVDream from the original checkpoint').")
    if not path.is_file():
        raise LiftError(f"MVDream checkpoint {path} does not exist.")
    unet = load_converted_unet(load_file(str(path)), unet_config)
    base_dir = resolve_model(base, "MVDream base model (Stable Diffusion 2.1-base)")
    out = Path(out_dir)
    unet.save_pretrained(out / "unet", safe_serialization=True)
    for part in ("vae", "text_encoder", "tokenizer", "scheduler"):
        shutil.copytree(base_dir / part, out / part, dirs_exist_ok=True)
    (out / "model_index.json").write_text(json.dumps({
        "_class_name": "MVDreamPipeline", "unet": ["lift3d.priors.mvdream_unet", "MultiViewUNet"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"]}, indent=2))
    return out
