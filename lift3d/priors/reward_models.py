"""Pretrained reward models from a hub id or a local folder: CLIP score and the LAION aesthetic predictor.

Both implement :class:`lift3d.priors.rewards.RewardModel` (``[B, H, W, 3]`` in [0, 1] -> ``[B]``), for
reward-weighted guidance and for evaluation.

* CLIP score: :class:`lift3d.priors.rewards.CLIPReward` on a transformers ``CLIPModel`` folder
  (``openai/clip-vit-large-patch14`` layout: ``config.json``, ``model.safetensors``, tokenizer files);
  by default the bundled 32 px model (:mod:`lift3d.priors.bundled_reward`, same layout).
* LAION aesthetic predictor v2 ("improved-aesthetic-predictor", C. Schuhmann, LAION 2022): an MLP
  ``768 -> 1024 -> 128 -> 64 -> 16 -> 1`` (dropouts between the first four) on L2-normalised CLIP
  ViT-L/14 image embeddings, predicting a 1-10 rating. Parameter names are the released ones
  (``layers.0``, ``layers.2``, ``layers.4``, ``layers.6``, ``layers.7``). The released head is a pickled
  ``.pth``; lift3d reads it only as safetensors (one-time conversion in docs/priors.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lift3d.priors.base import Conditions
from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR
from lift3d.priors.hub import resolve_model
from lift3d.priors.rewards import CLIP_MEAN, CLIP_STD, CLIPReward
from lift3d.types import LiftError

AESTHETIC_HIDDEN = (1024, 128, 64, 16)
"""Hidden widths of the LAION aesthetic MLP."""


class AestheticMLP(torch.nn.Module):
    """The LAION aesthetic head; ``[B, D]`` normalised CLIP image embeddings -> ``[B]`` ratings."""

    def __init__(self, embed_dim: int = 768) -> None:
        super().__init__()
        h = AESTHETIC_HIDDEN
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(embed_dim, h[0]), torch.nn.Dropout(0.2), torch.nn.Linear(h[0], h[1]), torch.nn.Dropout(0.2),
            torch.nn.Linear(h[1], h[2]), torch.nn.Dropout(0.1), torch.nn.Linear(h[2], h[3]), torch.nn.Linear(h[3], 1))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings).squeeze(-1)


def clip_image_features(model: Any, images: torch.Tensor) -> torch.Tensor:
    """``[B, D]`` L2-normalised CLIP image embeddings of ``[B, H, W, 3]`` images in [0, 1]."""
    size = int(model.config.vision_config.image_size)
    x = F.interpolate(images.permute(0, 3, 1, 2).float(), size=(size, size), mode="bicubic", align_corners=False)
    mean = torch.tensor(CLIP_MEAN, device=x.device).reshape(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).reshape(1, 3, 1, 1)
    feats = model.get_image_features(pixel_values=((x - mean) / std).to(model.dtype))
    return F.normalize(getattr(feats, "pooler_output", feats).float(), dim=-1)


class AestheticReward:
    """LAION aesthetic rating (about 1-10, higher is better) of each image.

    Args:
        model: a transformers ``CLIPModel`` (ViT-L/14 for the released head).
        head: an :class:`AestheticMLP` whose input width is the CLIP projection width.
    """

    def __init__(self, model: Any, head: AestheticMLP) -> None:
        self.model = model.eval().requires_grad_(False)
        self.head = head.eval().requires_grad_(False)
        width = self.head.layers[0].in_features
        if width != int(model.config.projection_dim):
            raise ValueError(f"aesthetic head expects {width}-d CLIP embeddings but the CLIP model gives "
                             f"{model.config.projection_dim}-d; use the CLIP model the head was trained on (ViT-L/14).")

    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        feats = clip_image_features(self.model, images)
        return self.head(feats.to(self.head.layers[0].weight))


def load_clip(spec: str | os.PathLike[str] = BUNDLED_REWARD_DIR, device: str = "cpu") -> tuple[Any, Any]:
    """(CLIPModel, CLIPTokenizer) from a hub id or local transformers folder (safetensors only).

    The default is the bundled reward model's folder (:data:`lift3d.priors.bundled_reward.BUNDLED_REWARD_DIR`).
    """
    from transformers import CLIPModel, CLIPTokenizer

    folder = resolve_model(spec, "CLIP reward model", required=("config.json",))
    model = CLIPModel.from_pretrained(folder, use_safetensors=True).to(device)
    return model, CLIPTokenizer.from_pretrained(folder)


def load_clip_reward(prompt: str, model: str | os.PathLike[str] = BUNDLED_REWARD_DIR,
                     device: str = "cpu") -> CLIPReward:
    """CLIP score of images against ``prompt`` with CLIP ``model`` (hub id or local folder).

    The default is the bundled 32 px reward model trained on the procedural world
    (:mod:`lift3d.priors.bundled_reward`); pass e.g. ``"openai/clip-vit-large-patch14"`` for real CLIP.
    """
    clip, tokenizer = load_clip(model, device)
    ids = tokenizer([prompt.lower()], padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(device)
    return CLIPReward(clip, ids)


def load_aesthetic_reward(head: str | os.PathLike[str], model: str = "openai/clip-vit-large-patch14",
                          device: str = "cpu") -> AestheticReward:
    """The LAION aesthetic predictor: ``head`` is the MLP as ``.safetensors``; ``model`` the CLIP it runs on."""
    from safetensors.torch import load_file

    path = Path(head).expanduser()
    if path.suffix != ".safetensors" or not path.is_file():
        raise LiftError(f"aesthetic head {path} not found or not .safetensors: convert the released "
                        f"sac+logos+ava1-l14-linearMSE.pth once as shown in docs/priors.md (lift3d never unpickles).")
    state = load_file(str(path))
    if "layers.0.weight" not in state:
        raise LiftError(f"{path} is not a LAION aesthetic head (no layers.0.weight).")
    mlp = AestheticMLP(int(state["layers.0.weight"].shape[1]))
    mlp.load_state_dict(state, strict=True)
    clip, _ = load_clip(model, device)
    return AestheticReward(clip, mlp.to(device))
