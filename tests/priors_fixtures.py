"""Tiny random priors saved in the exact folder layout and config keys of the released hub repos.

Every builder writes what the hub repo holds (``model_index.json``, ``<component>/config.json`` +
``diffusion_pytorch_model.safetensors`` / ``model.safetensors``, ``tokenizer/`` with a real tiny BPE
vocabulary and merges, ``scheduler/scheduler_config.json``) so the public loaders are exercised
end to end, offline, in well under a second per model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

WORDS = ("a", "dog", "cat", "hamburger", "front", "side", "back", "overhead", "view", "photo", "of", "blurry")
CHARS = "abcdefghijklmnopqrstuvwxyz,"


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def bpe_merges(words: tuple[str, ...]) -> list[tuple[str, str]]:
    """Left-to-right merges that make each word one ``</w>`` token (CLIP BPE style)."""
    merges: list[tuple[str, str]] = []
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in merges:
                merges.append(pair)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
    return merges


def write_clip_tokenizer(folder: Path) -> int:
    """Write ``vocab.json``, ``merges.txt``, ``tokenizer_config.json``, ``special_tokens_map.json``; return vocab size."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in CHARS:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    merges = bpe_merges(WORDS)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>"}
    write_json(folder / "special_tokens_map.json", special)
    write_json(folder / "tokenizer_config.json", {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77,
                                                  "do_lower_case": True, **special})
    return len(vocab)


def save_clip_text(folder: Path, hidden: int = 32) -> None:
    """``tokenizer/`` + ``text_encoder/`` (CLIPTextModel) of a diffusers folder."""
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab_size = write_clip_tokenizer(folder / "tokenizer")
    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77, projection_dim=hidden,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    CLIPTextModel(config).save_pretrained(folder / "text_encoder", safe_serialization=True)


def tiny_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=4, sample_size=16)


def tiny_unet(in_channels: int = 4, cross_attention_dim: int = 32, sample_size: int = 8) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=sample_size,
                                in_channels=in_channels, out_channels=4, norm_num_groups=4, attention_head_dim=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=cross_attention_dim)


def sd_scheduler_config(prediction_type: str = "epsilon") -> dict:
    """``scheduler/scheduler_config.json`` of stabilityai/stable-diffusion-2-1-base (PNDM, scaled_linear)."""
    return {"_class_name": "PNDMScheduler", "_diffusers_version": "0.10.0.dev0", "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
            "num_train_timesteps": 1000, "prediction_type": prediction_type, "set_alpha_to_one": False,
            "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}


def save_sd(folder: Path, prediction_type: str = "epsilon", seed: int = 0) -> Path:
    """A tiny Stable Diffusion 2.x folder (latent 8x8, image 16x16)."""
    torch.manual_seed(seed)
    save_clip_text(folder)
    tiny_unet().save_pretrained(folder / "unet", safe_serialization=True)
    tiny_vae().save_pretrained(folder / "vae", safe_serialization=True)
    write_json(folder / "scheduler" / "scheduler_config.json", sd_scheduler_config(prediction_type))
    write_json(folder / "model_index.json", {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.10.0.dev0",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    return folder
