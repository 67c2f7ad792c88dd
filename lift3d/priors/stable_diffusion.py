"""Stable Diffusion 1.x / 2.x as a latent diffusion prior, loaded from a hub id or a local diffusers folder.

"High-Resolution Image Synthesis with Latent Diffusion Models", Rombach et al., arXiv 2112.10752.
Epsilon models (SD 1.5, SD 2.1-base at 512 px) and v-prediction models (SD 2.1 at 768 px) both work:
the scheduler config's ``prediction_type`` is converted to epsilon in :func:`lift3d.priors.base.to_epsilon`.

Precision (guidance.md 2.6): weights in fp16/bf16 on CUDA when asked (``dtype="auto"`` = fp16 on CUDA,
fp32 on CPU); UNet/VAE outputs are cast back to fp32 before any CFG arithmetic (:class:`UNetPrior`).
Attention uses PyTorch's scaled-dot-product attention (diffusers' default ``AttnProcessor2_0``).
``cpu_offload`` (CUDA only) keeps weights in CPU memory and moves each model to the GPU for its forward
(accelerate hooks). The text encoder runs once per prompt and its outputs are cached on disk
(:mod:`lift3d.priors.embedding_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from lift3d.priors.embedding_cache import EmbeddingCache, default_cache_dir
from lift3d.priors.hub import model_fingerprint, resolve_model
from lift3d.priors.prompts import PromptEmbeddings
from lift3d.priors.unet import UNetPrior
from lift3d.types import LiftError

Precision = Literal["auto", "float32", "float16", "bfloat16"]


@dataclass(frozen=True)
class LoadOptions:
    """How a pretrained prior is placed in memory."""

    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1`` ..."""
    dtype: Precision = "auto"
    """Weight precision; ``auto`` = float16 on CUDA, float32 on CPU. Half precision is CUDA-only."""
    cpu_offload: bool = False
    """CUDA only: keep weights in CPU RAM and move each model to the GPU for its forward (slower, less VRAM)."""
    revision: str | None = None
    """Hub branch, tag or commit (ignored for local folders)."""
    variant: str | None = None
    """Weights variant, e.g. ``fp16`` (half-size downloads where the repo has them; needs a half dtype)."""
    cache_prompts: bool = True
    """Cache prompt embeddings on disk (see ``cache_dir``)."""
    cache_dir: str | None = None
    """Prompt-embedding cache folder; None = ``$LIFT3D_CACHE/prompt_embeddings`` or ``~/.cache/lift3d/...``."""


def resolve_placement(options: LoadOptions, allow_half: bool = True) -> tuple[torch.device, torch.dtype]:
    """Device and weight dtype for ``options``; raises LiftError for half precision on CPU."""
    device = torch.device("cuda" if options.device == "auto" and torch.cuda.is_available()
                          else "cpu" if options.device == "auto" else options.device)
    if options.cpu_offload and device.type != "cuda":
        raise LiftError("cpu_offload needs a CUDA device; drop it on CPU (weights already live in RAM).")
    if options.dtype == "auto":
        return device, torch.float16 if device.type == "cuda" and allow_half else torch.float32
    dtype = getattr(torch, options.dtype)
    if dtype != torch.float32 and device.type != "cuda":
        raise LiftError(f"--dtype {options.dtype} needs a CUDA device (got {device}); use float32 on CPU.")
    return device, dtype


def weights(options: LoadOptions, dtype: torch.dtype, transformers: bool = False) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments: safetensors only, the variant, the dtype (diffusers' or transformers' name)."""
    return {"use_safetensors": True, "variant": options.variant, ("dtype" if transformers else "torch_dtype"): dtype}


def place(module: torch.nn.Module, device: torch.device, offload: bool) -> torch.nn.Module:
    """Move ``module`` to ``device``, or attach accelerate's CPU-offload hooks executing on it."""
    if offload:
        from accelerate import cpu_offload

        cpu_offload(module, execution_device=device)
        return module
    return module.to(device)


def load_scheduler(folder: Path) -> Any:
    """A ``DDPMScheduler`` built from ``scheduler/scheduler_config.json`` (PNDM/DDIM configs share the betas)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_pretrained(folder, subfolder="scheduler")


def load_vae(folder: Path, options: LoadOptions, dtype: torch.dtype) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(folder, subfolder="vae", **weights(options, dtype))


class PromptEncoder:
    """Tokenizer + text encoder: prompts -> ``[N, L, D]`` float32 hidden states, cached on disk.

    Works for CLIP (Stable Diffusion, MVDream: ``last_hidden_state`` of ``CLIPTextModel``; SD 2.x's
    diffusers text encoder already ends at OpenCLIP's penultimate layer) and T5 (DeepFloyd IF, with the
    attention mask).

    Args:
        tokenizer: a transformers tokenizer (``model_max_length`` = L).
        model: the text encoder.
        cache: an :class:`EmbeddingCache` or None.
        use_attention_mask: pass the padding mask to the encoder (T5).
        device: where the encoder executes (its weights may live elsewhere under CPU offload).
    """

    def __init__(self, tokenizer: Any, model: Any, cache: EmbeddingCache | None = None,
                 use_attention_mask: bool = False, device: torch.device | str = "cpu") -> None:
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.model = model.requires_grad_(False).eval()
        self.cache = cache
        self.use_attention_mask = use_attention_mask
        self.max_length = int(tokenizer.model_max_length)
        if self.max_length > 4096:
            raise LiftError("tokenizer has no model_max_length: add it to tokenizer/tokenizer_config.json (77 for CLIP).")

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=True,
                                return_tensors="pt")
        mask = tokens.attention_mask.to(self.device) if self.use_attention_mask else None
        out = self.model(tokens.input_ids.to(self.device), attention_mask=mask)
        return {"hidden_states": out.last_hidden_state.float().cpu()}

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[N, L, D]`` float32 embeddings of ``prompts`` (CPU; move them where the prior runs)."""
        prompts = list(prompts)
        if self.cache is None:
            return self.encode_uncached(prompts)["hidden_states"]
        return self.cache.get_or_compute(prompts, self.encode_uncached)["hidden_states"]


def prompt_cache(folder: Path, spec: str, options: LoadOptions, kind: str) -> EmbeddingCache | None:
    """The embedding cache of model ``spec`` (keyed by id, revision/weights fingerprint and encoder kind)."""
    if not options.cache_prompts:
        return None
    key = f"{kind}|{spec}|{options.revision}|{model_fingerprint(folder)}"
    return EmbeddingCache(options.cache_dir or default_cache_dir(), key)


def load_clip_prompt_encoder(folder: Path, spec: str, options: LoadOptions, device: torch.device,
                             dtype: torch.dtype) -> PromptEncoder:
    """``tokenizer/`` (CLIPTokenizer) + ``text_encoder/`` (CLIPTextModel) of a diffusers folder."""
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    model = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", **weights(options, dtype, True))
    return PromptEncoder(tokenizer, place(model, device, options.cpu_offload),
                         prompt_cache(folder, spec, options, "clip"), device=device)


class TextConditionedPrior(UNetPrior):
    """A :class:`UNetPrior` that owns a :class:`PromptEncoder` (``encode_text``) for building conditions."""

    prompt_encoder: PromptEncoder

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[N, L, D]`` text states on the prior's device (float32)."""
        return self.prompt_encoder(prompts).to(self.alphas_cumprod.device)

    def prompt(self, prompt: str, negative: str | None = None, view_dependent: bool = True) -> PromptEmbeddings:
        """Encode ``prompt``, ``""``, the negative and the view-suffixed prompts; call ``.conditions(cameras)``."""
        return PromptEmbeddings.encode(self.encode_text, prompt, negative, view_dependent)


class StableDiffusionPrior(TextConditionedPrior):
    """Stable Diffusion UNet + VAE + CLIP text encoder (see module docstring)."""


class PipelinePriorSpec:
    """What lift3d's pipelines ask of a prior spec (as ``lift3d.pipelines.prior_specs.BundledPriorSpec``):
    ``build(device)``, ``text_encoder(prior)``, ``camera_conditioned``, ``light``."""

    camera_conditioned: ClassVar[bool] = False
    """True when the prior takes the camera (then view-suffixed prompts are off by default)."""
    light: ClassVar[None] = None
    """Pretrained priors were not trained under one fixed light (None): pipelines may randomise shading."""
    load: LoadOptions

    def on(self, device: torch.device | str | None) -> LoadOptions:
        """The load options with ``device`` (when given) replacing ``load.device``."""
        return self.load if device is None else replace(self.load, device=str(device))

    def text_encoder(self, prior: Any) -> Callable[[Sequence[str]], torch.Tensor]:
        return prior.encode_text

    def contrast_prompts(self, prompt: str) -> list[str]:
        """No fixed set of classes to contrast a prompt with: [] (CLIP scores the prompt alone)."""
        return []


@dataclass(frozen=True)
class StableDiffusionConfig(PipelinePriorSpec):
    """Stable Diffusion 1.x/2.x prior (latent space, 512 px for 2.1-base / 1.5)."""

    KIND = "stable-diffusion"

    model: str = "stabilityai/stable-diffusion-2-1-base"
    """Hub id or local diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)."""
    load: LoadOptions = field(default_factory=LoadOptions)
    """Device, precision, offload and prompt cache."""

    def build(self, device: torch.device | str | None = None) -> StableDiffusionPrior:
        """Load the prior (on ``device`` when given, else ``load.device``)."""
        from diffusers import UNet2DConditionModel

        load = self.on(device)
        folder = resolve_model(self.model, "Stable Diffusion prior", revision=load.revision, variant=load.variant,
                               required=("model_index.json", "unet/config.json", "vae/config.json",
                                         "text_encoder/config.json", "scheduler/scheduler_config.json"))
        device, dtype = resolve_placement(load)
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **weights(load, dtype))
        prior = StableDiffusionPrior(place(unet, device, load.cpu_offload), load_scheduler(folder),
                                     place(load_vae(folder, load, dtype), device, load.cpu_offload))
        prior.alphas_cumprod = prior.alphas_cumprod.to(device)
        prior.prompt_encoder = load_clip_prompt_encoder(folder, self.model, load, device, dtype)
        return prior
