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


def ddim_scheduler_config() -> dict:
    """``scheduler/scheduler_config.json`` of ashawkey/mvdream-sd2.1-diffusers / Zero123 ports (DDIM, scaled_linear)."""
    return {"_class_name": "DDIMScheduler", "_diffusers_version": "0.25.0", "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
            "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
            "steps_offset": 1, "trained_betas": None}


TINY_MV_UNET = {"image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 8, "num_res_blocks": 1,
                "attention_resolutions": [1, 2], "channel_mult": [1, 2], "num_head_channels": 4,
                "transformer_depth": 1, "context_dim": 32, "camera_dim": 16, "use_linear_in_transformer": True,
                "norm_num_groups": 4}
"""A tiny MultiViewUNet config with the keys of MVDream's ``unet/config.json`` (SD 2.1-base style)."""

TINY_MV_UNET_SD15 = {**TINY_MV_UNET, "num_head_channels": -1, "num_heads": 2, "context_dim": 24,
                     "use_linear_in_transformer": False}
"""The sd-v1.5-4view style: a fixed head count and 1x1-conv proj_in/proj_out."""


def original_mvdream_state_dict(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with the key names/shapes of the released LDM checkpoint (sd-v2.1-base-4view.pt).

    Written from the LDM ``openaimodel`` layout (input_blocks / middle_block / output_blocks, ResBlock
    ``in_layers.{0,2}``, ``emb_layers.1``, ``out_layers.{0,3}``, ``skip_connection``, SpatialTransformer
    ``norm``/``proj_in``/``transformer_blocks.<k>``/``proj_out``), independently of lift3d's module.
    """
    g = torch.Generator().manual_seed(seed)
    c, emb, ctx = cfg["model_channels"], 4 * cfg["model_channels"], cfg["context_dim"]
    shapes: dict[str, tuple[int, ...]] = {}

    def add(name: str, *shape: int) -> None:
        shapes[name] = shape

    def linear(name: str, o: int, i: int, bias: bool = True) -> None:
        add(name + ".weight", o, i)
        if bias:
            add(name + ".bias", o)

    def conv(name: str, o: int, i: int, k: int) -> None:
        add(name + ".weight", o, i, k, k)
        add(name + ".bias", o)

    def res(p: str, i: int, o: int) -> None:
        add(p + "in_layers.0.weight", i), add(p + "in_layers.0.bias", i)
        conv(p + "in_layers.2", o, i, 3)
        linear(p + "emb_layers.1", o, emb)
        add(p + "out_layers.0.weight", o), add(p + "out_layers.0.bias", o)
        conv(p + "out_layers.3", o, o, 3)
        if i != o:
            conv(p + "skip_connection", o, i, 1)

    def proj(name: str, ch: int) -> None:
        if cfg["use_linear_in_transformer"]:
            linear(name, ch, ch)
        else:
            conv(name, ch, ch, 1)

    def st(p: str, ch: int) -> None:
        add(p + "norm.weight", ch), add(p + "norm.bias", ch)
        proj(p + "proj_in", ch)
        for k in range(cfg["transformer_depth"]):
            b = f"{p}transformer_blocks.{k}."
            for a, kv in (("attn1", ch), ("attn2", ctx)):
                linear(b + a + ".to_q", ch, ch, False), linear(b + a + ".to_k", ch, kv, False)
                linear(b + a + ".to_v", ch, kv, False), linear(b + a + ".to_out.0", ch, ch)
            linear(b + "ff.net.0.proj", 8 * ch, ch), linear(b + "ff.net.2", ch, 4 * ch)
            for n in ("norm1", "norm2", "norm3"):
                add(b + n + ".weight", ch), add(b + n + ".bias", ch)
        proj(p + "proj_out", ch)

    linear("time_embed.0", emb, c), linear("time_embed.2", emb, emb)
    linear("camera_embed.0", emb, cfg["camera_dim"]), linear("camera_embed.2", emb, emb)
    conv("input_blocks.0.0", c, cfg["in_channels"], 3)
    skips, ch, ds, i = [c], c, 1, 1
    for level, mult in enumerate(cfg["channel_mult"]):
        for _ in range(cfg["num_res_blocks"]):
            res(f"input_blocks.{i}.0.", ch, mult * c)
            ch = mult * c
            if ds in cfg["attention_resolutions"]:
                st(f"input_blocks.{i}.1.", ch)
            skips.append(ch)
            i += 1
        if level < len(cfg["channel_mult"]) - 1:
            conv(f"input_blocks.{i}.0.op", ch, ch, 3)
            skips.append(ch)
            i, ds = i + 1, ds * 2
    res("middle_block.0.", ch, ch), st("middle_block.1.", ch), res("middle_block.2.", ch, ch)
    i = 0
    for level, mult in reversed(list(enumerate(cfg["channel_mult"]))):
        for r in range(cfg["num_res_blocks"] + 1):
            res(f"output_blocks.{i}.0.", ch + skips.pop(), mult * c)
            ch, j = mult * c, 1
            if ds in cfg["attention_resolutions"]:
                st(f"output_blocks.{i}.1.", ch)
                j = 2
            if level and r == cfg["num_res_blocks"]:
                conv(f"output_blocks.{i}.{j}.conv", ch, ch, 3)
                ds //= 2
            i += 1
    add("out.0.weight", ch), add("out.0.bias", ch)
    conv("out.2", cfg["out_channels"], c, 3)
    sd = {f"model.diffusion_model.{k}": 0.2 * torch.randn(s, generator=g) for k, s in shapes.items()}
    for k, s in shapes.items():  # GroupNorm/LayerNorm scales near 1
        if k.endswith("weight") and len(s) == 1:
            sd[f"model.diffusion_model.{k}"] += 1.0
    sd["first_stage_model.encoder.conv_in.weight"] = torch.randn(8, 3, 3, 3, generator=g)
    sd["cond_stage_model.model.positional_embedding"] = torch.randn(77, ctx, generator=g)
    return sd


def save_mvdream(folder: Path, seed: int = 0) -> Path:
    """A tiny MVDream folder in ashawkey/mvdream-sd2.1-diffusers layout (unet class name as there)."""
    from lift3d.priors.mvdream_unet import MultiViewUNet

    torch.manual_seed(seed)
    save_clip_text(folder)
    MultiViewUNet(**TINY_MV_UNET).save_pretrained(folder / "unet", safe_serialization=True)
    config = json.loads((folder / "unet" / "config.json").read_text())
    write_json(folder / "unet" / "config.json", {**config, "_class_name": "MultiViewUNetModel"})
    tiny_vae().save_pretrained(folder / "vae", safe_serialization=True)
    write_json(folder / "scheduler" / "scheduler_config.json", ddim_scheduler_config())
    write_json(folder / "model_index.json", {
        "_class_name": "MVDreamPipeline", "_diffusers_version": "0.25.0", "feature_extractor": [None, None],
        "image_encoder": [None, None], "requires_safety_checker": False, "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["mv_unet", "MultiViewUNetModel"], "vae": ["diffusers", "AutoencoderKL"]})
    return folder


def save_deepfloyd(folder: Path, seed: int = 0) -> Path:
    """A tiny DeepFloyd IF stage-I folder (IF-I-XL-v1.0 layout: learned-variance UNet, T5, cosine DDPM)."""
    from diffusers import UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    torch.manual_seed(seed)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    pieces += [("▁" + w, -1.0) for w in WORDS] + [(c, -2.0) for c in CHARS]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=77)
    tokenizer.save_pretrained(folder / "tokenizer")
    config = T5Config(vocab_size=len(pieces), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5EncoderModel(config).save_pretrained(folder / "text_encoder", safe_serialization=True)
    UNet2DConditionModel(
        sample_size=8, layers_per_block=1, block_out_channels=(8, 16), in_channels=3, out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"), cross_attention_dim=32,
        encoder_hid_dim=16, attention_head_dim=4, addition_embed_type="text", addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu", norm_num_groups=4,
    ).save_pretrained(folder / "unet", safe_serialization=True)
    write_json(folder / "scheduler" / "scheduler_config.json", {
        "_class_name": "DDPMScheduler", "_diffusers_version": "0.16.0", "beta_end": 0.02,
        "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001, "clip_sample": True, "clip_sample_range": 1.0,
        "dynamic_thresholding_ratio": 0.95, "num_train_timesteps": 1000, "prediction_type": "epsilon",
        "sample_max_value": 1.5, "thresholding": True, "trained_betas": None, "variance_type": "learned_range"})
    write_json(folder / "model_index.json", {
        "_class_name": "IFPipeline", "_diffusers_version": "0.16.0", "feature_extractor": [None, None],
        "requires_safety_checker": False, "safety_checker": [None, None], "scheduler": ["diffusers", "DDPMScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "watermarker": [None, None]})
    return folder


def save_zero123(folder: Path, seed: int = 0, projection: str = "cc_projection") -> Path:
    """A tiny Zero123 folder: kxic/zero123-xl layout (``cc_projection/``) or ashawkey/zero123-xl-diffusers and
    ashawkey/stable-zero123-diffusers layout (``projection="clip_camera_projection"``).

    CLIP image embedding 32 + pose 4 -> projection 36 -> 32 = the UNet's cross-attention width
    (768 + 4 -> 768 in the released models).
    """
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from lift3d.priors.cc_projection import CCProjection, CLIPCameraProjection

    torch.manual_seed(seed)
    unet = tiny_unet(in_channels=8, cross_attention_dim=32)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    tiny_vae().save_pretrained(folder / "vae", safe_serialization=True)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=16, patch_size=8, projection_dim=32)
    CLIPVisionModelWithProjection(vision).save_pretrained(folder / "image_encoder", safe_serialization=True)
    proj = CCProjection(36, 32) if projection == "cc_projection" else CLIPCameraProjection(32, 4)
    proj.save_pretrained(folder / projection, safe_serialization=True)
    write_json(folder / "feature_extractor" / "preprocessor_config.json", {
        "crop_size": {"height": 16, "width": 16}, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": {"shortest_edge": 16}})
    write_json(folder / "scheduler" / "scheduler_config.json", ddim_scheduler_config())
    write_json(folder / "model_index.json", {
        "_class_name": "Zero1to3StableDiffusionPipeline", "_diffusers_version": "0.17.0.dev0",
        projection: ["pipeline_zero1to3", type(proj).__name__], "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"], "requires_safety_checker": False,
        "safety_checker": [None, None], "scheduler": ["diffusers", "DDIMScheduler"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})
    return folder


def save_clip_model(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers CLIPModel folder (openai/clip-vit-large-patch14 layout: config, weights, tokenizer)."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    vocab_size = write_clip_tokenizer(folder)
    text = {"vocab_size": vocab_size, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}
    vision = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 16, "patch_size": 8}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=12)).save_pretrained(
        folder, safe_serialization=True)
    return folder
