"""The bundled reward model: a tiny contrastive text-image model (CLIP) trained on the procedural world.

"Learning Transferable Visual Models From Natural Language Supervision", Radford et al., arXiv 2103.00020.

It is a plain ``transformers.CLIPModel`` (a 32 px ViT image tower and a small text transformer) saved
in the layout of the ``openai/clip-vit-*`` folders (``config.json``, ``model.safetensors``, tokenizer
files), so the same loader as real CLIP reads it
(:func:`lift3d.priors.reward_models.load_clip`, :func:`~lift3d.priors.reward_models.load_clip_reward`),
and :class:`lift3d.priors.rewards.CLIPReward` scores images with it unchanged (images are normalised
with CLIP's mean and standard deviation in training too). The tokenizer is the bundled prior's
word-level ``CLIPTokenizer`` (:func:`lift3d.priors.bundled.build_tokenizer`). Trained by
``lift3d train-reward`` (:mod:`lift3d.train.reward`); zero-shot classification helpers live in
:mod:`lift3d.priors.zero_shot`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lift3d.priors.rewards import CLIP_MEAN, CLIP_STD

BUNDLED_REWARD_DIR = Path(__file__).resolve().parent.parent / "assets" / "reward-text32"
"""Where the trained bundled reward model ships inside the package (a transformers ``CLIPModel`` folder)."""


@dataclass(frozen=True)
class RewardArchitecture:
    """Sizes of the bundled CLIP model."""

    resolution: int = 32
    """Image side in pixels."""
    patch_size: int = 4
    vision_width: int = 96
    vision_layers: int = 3
    text_width: int = 64
    text_layers: int = 2
    projection_dim: int = 64
    """Width of the joint embedding space."""
    max_tokens: int = 20

    def model(self, vocab_size: int) -> Any:
        """A randomly initialised ``transformers.CLIPModel`` of these sizes (logit scale starts at ln(1/0.07))."""
        from transformers import CLIPConfig, CLIPModel

        text = {"vocab_size": vocab_size, "hidden_size": self.text_width, "intermediate_size": 4 * self.text_width,
                "num_hidden_layers": self.text_layers, "num_attention_heads": 4,
                "max_position_embeddings": self.max_tokens, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
                "projection_dim": self.projection_dim}
        vision = {"image_size": self.resolution, "patch_size": self.patch_size, "hidden_size": self.vision_width,
                  "intermediate_size": 4 * self.vision_width, "num_hidden_layers": self.vision_layers,
                  "num_attention_heads": 4, "projection_dim": self.projection_dim}
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=self.projection_dim)
        return CLIPModel(config)


def normalise_images(images: torch.Tensor) -> torch.Tensor:
    """``[B, H, W, 3]`` in [0, 1] -> CLIP pixel values ``[B, 3, H, W]`` (CLIP mean/std)."""
    x = images.permute(0, 3, 1, 2).float()
    mean = torch.tensor(CLIP_MEAN, device=x.device).reshape(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).reshape(1, 3, 1, 1)
    return (x - mean) / std


def _features(out: Any) -> torch.Tensor:
    return getattr(out, "pooler_output", out)


def image_embeddings(model: Any, images: torch.Tensor) -> torch.Tensor:
    """``[B, D]`` L2-normalised embeddings of ``[B, H, W, 3]`` images in [0, 1] (resized to the model's input)."""
    size = int(model.config.vision_config.image_size)
    x = normalise_images(images)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    return F.normalize(_features(model.get_image_features(pixel_values=x.to(model.dtype))).float(), dim=-1)


def text_embeddings(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """``[B, D]`` L2-normalised embeddings of token ids ``[B, L]``."""
    return F.normalize(_features(model.get_text_features(input_ids=input_ids)).float(), dim=-1)


def tokenize(tokenizer: Any, prompts: list[str]) -> torch.Tensor:
    """Token ids ``[B, L]`` padded to the tokenizer's max length (as :class:`~lift3d.priors.rewards.CLIPReward` expects)."""
    return tokenizer([p.lower() for p in prompts], padding="max_length", truncation=True,
                     max_length=tokenizer.model_max_length, return_tensors="pt").input_ids


def save_reward(path: Path, model: Any, tokenizer: Any) -> None:
    """Write the ``openai/clip-vit-*`` layout: ``config.json``, ``model.safetensors`` and the tokenizer files."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)


__all__ = ["BUNDLED_REWARD_DIR", "RewardArchitecture", "image_embeddings", "normalise_images", "save_reward",
           "text_embeddings", "tokenize"]
