"""DeepFloyd IF stage I: a pixel-space prior at 64x64 with a T5-XXL text encoder.

"DeepFloyd IF" (Stability AI / DeepFloyd, 2023; Imagen-style cascade, "Photorealistic Text-to-Image
Diffusion Models with Deep Language Understanding", Saharia et al., arXiv 2205.11487). Stage I
(``DeepFloyd/IF-I-XL-v1.0``) denoises 64x64 RGB in [-1, 1] directly, so SDS needs no VAE encoder
(cheap backward, no encoder NaNs). Its UNet predicts a learned variance too ("learned_range",
6 output channels): the first 3 channels are epsilon, the rest is ignored. The scheduler is
``squaredcos_cap_v2`` (cosine), read from ``scheduler/scheduler_config.json``.

Text: T5 encoder states of the prompt padded to 77 tokens, with the attention mask (as diffusers'
``IFPipeline.encode_prompt``); caption cleaning (``clean_caption``) is not applied.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import torch

from lift3d.priors.base import to_epsilon
from lift3d.priors.hub import resolve_model
from lift3d.priors.stable_diffusion import (
    LoadOptions,
    PipelinePriorSpec,
    PromptEncoder,
    TextConditionedPrior,
    load_scheduler,
    place,
    prompt_cache,
    resolve_placement,
    weights,
)
from lift3d.types import LiftError

IF_MAX_LENGTH = 77
"""Token length of IF prompts (diffusers' IFPipeline)."""


class DeepFloydIFPrior(TextConditionedPrior):
    """IF stage I UNet in pixel space; keeps the epsilon half of the learned-variance output."""

    def __init__(self, unet: torch.nn.Module, scheduler: object) -> None:
        super().__init__(unet, scheduler, vae=None)
        self.channels = int(unet.config.in_channels)

    def forward_unet(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor,
                     camera: torch.Tensor | None = None, raw: bool = False) -> torch.Tensor:
        """Epsilon ``[N, 3, 64, 64]`` (channels ``:3`` of the 6-channel output; the native ones if ``raw``)."""
        dtype = self.unet.dtype
        out = self.unet(x_t.to(dtype), t, encoder_hidden_states=embeddings.to(dtype)).sample.float()[:, : self.channels]
        return out if raw else to_epsilon(out, x_t, t, self.alphas_cumprod, self.prediction_type)


@dataclass(frozen=True)
class DeepFloydIFConfig(PipelinePriorSpec):
    """DeepFloyd IF stage I prior (pixel space, 64 px). Needs the IF license accepted on the hub."""

    KIND = "deepfloyd-if"

    model: str = "DeepFloyd/IF-I-XL-v1.0"
    """Hub id or local folder (model_index.json, unet/, text_encoder/ (T5EncoderModel), tokenizer/, scheduler/)."""
    load: LoadOptions = field(default_factory=LoadOptions)
    """Device, precision, offload and prompt cache (T5-XXL is ~9 GB in fp16: offload or cache prompts)."""

    def build(self, device: torch.device | str | None = None) -> DeepFloydIFPrior:
        """Load the prior (on ``device`` when given, else ``load.device``)."""
        from diffusers import UNet2DConditionModel
        from transformers import AutoTokenizer, T5EncoderModel

        load = self.on(device)

        folder = resolve_model(self.model, "DeepFloyd IF prior", revision=load.revision, variant=load.variant,
                               required=("model_index.json", "unet/config.json", "text_encoder/config.json",
                                         "scheduler/scheduler_config.json"))
        device, dtype = resolve_placement(load)
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **weights(load, dtype))
        prior = DeepFloydIFPrior(place(unet, device, load.cpu_offload), load_scheduler(folder))
        prior.alphas_cumprod = prior.alphas_cumprod.to(device)
        if not (folder / "tokenizer" / "tokenizer.json").exists() and importlib.util.find_spec("sentencepiece") is None:
            raise LiftError(f"{self.model!r} ships its T5 tokenizer as tokenizer/spiece.model, which needs the "
                            f"sentencepiece package: pip install sentencepiece")
        tokenizer = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer", model_max_length=IF_MAX_LENGTH)
        encoder = T5EncoderModel.from_pretrained(folder, subfolder="text_encoder", **weights(load, dtype, True))
        prior.prompt_encoder = PromptEncoder(tokenizer, place(encoder, device, load.cpu_offload),
                                             prompt_cache(folder, self.model, load, "t5"), use_attention_mask=True,
                                             device=device)
        return prior
