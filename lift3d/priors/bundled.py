"""The bundled prior: a small text- and camera-conditioned pixel-space diffusion model that lift3d
trains on its own procedural world (``lift3d train-prior``) and ships in ``lift3d/assets/``.

It is stored as a diffusers-style folder (``model_index.json``, ``unet/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``; safetensors only) and is a pixel-space prior like DeepFloyd IF
stage I, so :class:`~lift3d.priors.unet.UNetPrior` drives it unchanged; this module adds

* the word-level tokenizer: a real ``CLIPTokenizer`` whose BPE merges make every word of the
  caption vocabulary one token (so the tiny text encoder need not learn spelling);
* the architecture (a ``UNet2DConditionModel`` with cross-attention on a tiny ``CLIPTextModel`` and a
  camera embedding through ``class_embed_type="projection"``, as camera-conditioned multi-view
  priors such as MVDream, arXiv 2308.16512, condition on the camera);
* the camera condition ``(elevation rad, sin az, cos az, ..., sin H az, cos H az)`` in lift3d's
  convention: Fourier features of the azimuth up to harmonic ``H`` (``BundledArchitecture.azimuth_harmonics``;
  read back from the UNet's input width). A square object (a cube, a table, a pyramid) looks the same every
  90 degrees, so its yaw is a function of ``4 az``: with two harmonics (the first prior) the camera
  embedding's one hidden layer has to synthesise it, and the samples' yaw drifted (docs/bundled_prior.md);
* optionally (``BundledArchitecture.camera_raymap``) the same camera as a Plücker ray map appended to the
  UNet's input (:mod:`lift3d.priors.raymap`), rebuilt from the condition vector inside
  :meth:`BundledPrior.forward_unet`, so guidance code passes the same ``conditions.camera`` either way.

The camera distance and field of view are fixed in training (see :data:`TRAIN_DISTANCE`,
:data:`TRAIN_FOV_DEG`); guidance should render with the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.cameras import Cameras, position_to_spherical
from lift3d.priors.base import Conditions, PredictionType, to_epsilon
from lift3d.priors.raymap import RAYMAP_CHANNELS, plucker_raymap
from lift3d.priors.unet import UNetPrior

BUNDLED_PRIOR_DIR = Path(__file__).resolve().parent.parent / "assets" / "prior-text32"
"""Where the trained bundled text-to-multiview prior ships inside the package."""

TRAIN_DISTANCE = 2.75
TRAIN_FOV_DEG = 40.0
TRAIN_ELEVATION = (-10.0, 60.0)
_SPECIAL = ("<|startoftext|>", "<|endoftext|>")


def caption_vocabulary() -> list[str]:
    """Every word the procedural captions use (families, colours, template words), sorted."""
    from lift3d.data.captions import FAMILY_WORDS, TEMPLATES
    from lift3d.data.palette import PALETTE

    words: set[str] = {"an"}
    for phrases in FAMILY_WORDS.values():
        for phrase in phrases:
            words.update(phrase.split())
    for c in PALETTE:
        words.update((c.name, *c.synonyms))
    for template in TEMPLATES:
        words.update(w for w in template.replace("{colour}", " ").replace("{shape}", " ").split())
    return sorted(words)


def build_tokenizer(words: list[str], max_length: int = 20) -> Any:
    """A ``CLIPTokenizer`` with one token per word of ``words`` (plus single characters for the rest).

    Merges are prefix merges built word by word; the result is verified so that each word (except
    those CLIP's pre-tokenizer splits, e.g. "3d") encodes to exactly one token.
    """
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    ranks: dict[tuple[str, str], int] = {}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    def encode(symbols: list[str]) -> list[str]:  # plain BPE with the merges so far
        while len(symbols) > 1:
            pairs = [(ranks.get(p, len(ranks)), i) for i, p in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(pairs)
            if rank == len(ranks):
                break
            symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
        return symbols

    for token in _SPECIAL:
        add(token)
    for ch in sorted({c for w in words for c in w}):
        add(ch)
        add(ch + "</w>")
    for word in words:
        # Merges appended later rank higher, so they never change how earlier words encode.
        chars = list(word[:-1]) + [word[-1] + "</w>"]
        pieces = encode(chars)
        while len(pieces) > 1:
            ranks[(pieces[0], pieces[1])] = len(ranks)
            add(pieces[0] + pieces[1])
            pieces = encode(chars)
    merges = sorted(ranks, key=ranks.__getitem__)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
    for word in words:
        if word.isalpha() and len(tokenizer(word, add_special_tokens=False).input_ids) != 1:
            raise RuntimeError(f"tokenizer splits {word!r}: {tokenizer.tokenize(word)}")
    return tokenizer


@dataclass(frozen=True)
class BundledArchitecture:
    """Sizes of the bundled prior's networks."""

    resolution: int = 32
    """Image side in pixels (pixel-space prior)."""
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    """UNet channels per resolution level."""
    layers_per_block: int = 1
    text_dim: int = 64
    """Width of the text encoder (and the UNet's cross-attention)."""
    text_layers: int = 2
    max_tokens: int = 20
    prediction_type: PredictionType = PredictionType.EPSILON
    """What the UNet is trained to predict (recorded in ``scheduler/``; :mod:`lift3d.train.diffusion_objective`)."""
    azimuth_harmonics: int = 4
    """Fourier harmonics of the azimuth in the camera condition (its width is ``1 + 2 H``); 4 lets the
    camera embedding read a square object's yaw (a function of ``4 az``) directly."""
    camera_raymap: bool = False
    """Also give the UNet the camera as a Plücker ray map, six input channels after the RGB
    (:mod:`lift3d.priors.raymap`), so each pixel knows which world ray it sees."""

    @property
    def in_channels(self) -> int:
        """The UNet's input channels: the noisy RGB image, then the ray map when :attr:`camera_raymap`."""
        return 3 + (RAYMAP_CHANNELS if self.camera_raymap else 0)

    def unet(self) -> Any:
        from diffusers import UNet2DConditionModel

        n = len(self.block_out_channels)
        return UNet2DConditionModel(
            sample_size=self.resolution,
            in_channels=self.in_channels,
            out_channels=3,
            block_out_channels=self.block_out_channels,
            layers_per_block=self.layers_per_block,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
            cross_attention_dim=self.text_dim,
            attention_head_dim=16,
            norm_num_groups=16,
            class_embed_type="projection",
            projection_class_embeddings_input_dim=camera_dim(self.azimuth_harmonics),
        )

    def text_encoder(self, vocab_size: int) -> Any:
        from transformers import CLIPTextConfig, CLIPTextModel

        config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=self.text_dim, intermediate_size=2 * self.text_dim,
                                num_hidden_layers=self.text_layers, num_attention_heads=4,
                                max_position_embeddings=self.max_tokens, bos_token_id=0, eos_token_id=1, pad_token_id=1)
        return CLIPTextModel(config)

    def scheduler(self) -> Any:
        return pixel_scheduler(self.prediction_type)


def pixel_scheduler(prediction_type: PredictionType = PredictionType.EPSILON) -> Any:
    """The bundled priors' ``DDPMScheduler``: 1000 steps of the squared-cosine schedule ("Improved Denoising
    Diffusion Probabilistic Models", arXiv 2102.09672), no sample clipping."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type=PredictionType(prediction_type).value, clip_sample=False)


def camera_dim(azimuth_harmonics: int) -> int:
    """Width of the camera condition with ``azimuth_harmonics`` Fourier harmonics of the azimuth."""
    return 1 + 2 * azimuth_harmonics


def camera_condition(cameras: Cameras, azimuth_harmonics: int) -> torch.Tensor:
    """``[B, 1 + 2H]`` = (elevation rad, sin az, cos az, ..., sin H az, cos H az) of each camera centre."""
    elevation, azimuth, _ = position_to_spherical(cameras.c2w[:, :3, 3])
    return camera_condition_from_angles(elevation, azimuth, azimuth_harmonics)


def camera_condition_from_angles(elevation_deg: torch.Tensor, azimuth_deg: torch.Tensor,
                                 azimuth_harmonics: int) -> torch.Tensor:
    """The camera condition from angles in degrees (``[B]`` each)."""
    e, a = torch.deg2rad(elevation_deg), torch.deg2rad(azimuth_deg)
    features = [e]
    for k in range(1, azimuth_harmonics + 1):
        features += [(k * a).sin(), (k * a).cos()]
    return torch.stack(features, dim=-1).float()


def raymap_from_condition(camera: torch.Tensor, resolution: int) -> torch.Tensor:
    """``[B, 6, R, R]`` Plücker ray map of the training camera (:data:`TRAIN_DISTANCE`, :data:`TRAIN_FOV_DEG`,
    looking at the origin) that the condition ``camera`` ``[B, 1 + 2H]`` describes."""
    elevation = torch.rad2deg(camera[:, 0].float())
    azimuth = torch.rad2deg(torch.atan2(camera[:, 1].float(), camera[:, 2].float()))
    cams = Cameras.from_spherical(elevation.cpu(), azimuth.cpu(), torch.full_like(elevation.cpu(), TRAIN_DISTANCE),
                                  TRAIN_FOV_DEG, resolution)
    return plucker_raymap(cams).to(camera.device)


def camera_layout(azimuth_harmonics: int) -> str:
    """The condition's layout as recorded in ``model_index.json``."""
    names = ["elevation_rad"]
    for k in range(1, azimuth_harmonics + 1):
        prefix = "" if k == 1 else str(k)
        names += [f"sin_{prefix}az", f"cos_{prefix}az"]
    return ",".join(names)


class BundledPrior(UNetPrior):
    """The bundled pixel-space prior with its own text encoder and camera condition."""

    def __init__(self, unet: Any, scheduler: Any, text_encoder: Any, tokenizer: Any) -> None:
        super().__init__(unet, scheduler, vae=None)
        self.text_encoder = text_encoder.requires_grad_(False).eval()
        self.tokenizer = tokenizer

    @property
    def azimuth_harmonics(self) -> int:
        """The harmonics of the azimuth this UNet was trained with (from its camera input width)."""
        return (int(self.unet.config.projection_class_embeddings_input_dim) - 1) // 2

    @property
    def raymap(self) -> bool:
        """Whether this UNet also reads the camera as a Plücker ray map (from its input width)."""
        return int(self.unet.config.in_channels) > self.channels

    def camera_condition(self, cameras: Cameras) -> torch.Tensor:
        return camera_condition(cameras, self.azimuth_harmonics).to(cameras.device)

    def forward_unet(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor,
                     camera: torch.Tensor | None = None, raw: bool = False) -> torch.Tensor:
        """:meth:`UNetPrior.forward_unet`, with the camera's ray map appended to the input when the UNet reads one
        (the epsilon or native output is of the RGB channels only)."""
        if not self.raymap:
            return super().forward_unet(x_t, t, embeddings, camera, raw)
        if camera is None:
            raise ValueError("this prior reads the camera as a ray map: pass conditions.camera "
                             "(prior.camera_condition(cameras)).")
        rays = raymap_from_condition(camera, x_t.shape[-1]).to(x_t.dtype)
        out = super().forward_unet(torch.cat([x_t, rays], dim=1), t, embeddings, camera, raw=True)
        return out if raw else to_epsilon(out, x_t, t, self.alphas_cumprod, self.prediction_type)

    def camera_condition_from_angles(self, elevation_deg: torch.Tensor, azimuth_deg: torch.Tensor) -> torch.Tensor:
        """This prior's camera condition for angles in degrees (``[B]`` each)."""
        return camera_condition_from_angles(elevation_deg, azimuth_deg, self.azimuth_harmonics)

    @torch.no_grad()
    def embed_text(self, prompts: list[str]) -> torch.Tensor:
        """``[B, L, D]`` text-encoder states for ``prompts`` (``""`` is the unconditional prompt)."""
        return encode_prompts(self.text_encoder, self.tokenizer, prompts)

    def conditions(self, prompt: str, cameras: Cameras, negative: str | None = None) -> Conditions:
        """Conditions for one prompt rendered from ``cameras`` (text, uncond, optional negative, camera)."""
        B = len(cameras)
        text = self.embed_text([prompt]).expand(B, -1, -1)
        uncond = self.embed_text([""]).expand(B, -1, -1)
        neg = None if negative is None else self.embed_text([negative]).expand(B, -1, -1)
        return Conditions(text=text, uncond=uncond, negative=neg, camera=self.camera_condition(cameras))

    @classmethod
    def from_pretrained(cls, path: Path | str = BUNDLED_PRIOR_DIR) -> BundledPrior:
        """Load the folder written by :func:`save_bundled` (safetensors only)."""
        from diffusers import DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from lift3d.types import LiftError

        path = Path(path)
        if not (path / "model_index.json").is_file():
            raise LiftError(f"no bundled prior at {path} (model_index.json missing); train one with "
                            f"'lift3d train-prior' or reinstall lift3d")
        unet = UNet2DConditionModel.from_pretrained(path / "unet", use_safetensors=True)
        text_encoder = CLIPTextModel.from_pretrained(path / "text_encoder", use_safetensors=True)
        tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer")
        scheduler = DDPMScheduler.from_pretrained(path / "scheduler")
        return cls(unet, scheduler, text_encoder, tokenizer)


def encode_prompts(text_encoder: Any, tokenizer: Any, prompts: list[str]) -> torch.Tensor:
    """Tokenize (padded to the tokenizer's max length) and encode; last hidden states ``[B, L, D]``."""
    ids = tokenizer([p.lower() for p in prompts], padding="max_length", truncation=True,
                    max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device)).last_hidden_state


def save_bundled(path: Path, unet: Any, text_encoder: Any, tokenizer: Any, scheduler: Any,
                 extra: dict[str, Any] | None = None) -> None:
    """Write the diffusers-style folder (safetensors weights, JSON configs)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(path / "unet", safe_serialization=True)
    text_encoder.save_pretrained(path / "text_encoder", safe_serialization=True)
    tokenizer.save_pretrained(path / "tokenizer")
    scheduler.save_pretrained(path / "scheduler")
    index = {
        "_class_name": "Lift3dBundledPrior",
        "_diffusers_version": __import__("diffusers").__version__,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDPMScheduler"],
        "lift3d": {"camera_condition": camera_layout((int(unet.config.projection_class_embeddings_input_dim) - 1) // 2),
                   "unet_input": "rgb" + (",plucker_direction,plucker_moment"
                                          if int(unet.config.in_channels) > int(unet.config.out_channels) else ""),
                   "train_distance": TRAIN_DISTANCE, "train_fov_deg": TRAIN_FOV_DEG, **(extra or {})},
    }
    (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
