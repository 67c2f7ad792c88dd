"""``lift3d train-prior``: train the bundled text+camera-conditioned pixel prior from scratch.

Objective: DDPM epsilon prediction ("Denoising Diffusion Probabilistic Models", arXiv 2006.11239; or v
prediction with ``--architecture.prediction-type V``, :mod:`lift3d.train.diffusion_objective`) on
the squared-cosine schedule ("Improved DDPM", arXiv 2102.09672), Min-SNR-gamma loss weighting ("Efficient
Diffusion Training via Min-SNR Weighting Strategy", arXiv 2303.09556), 10 % caption dropout for
classifier-free guidance (arXiv 2207.12598), EMA weights exported. The text encoder trains jointly.
Checkpoints are atomic and resume bit-exactly (model, EMA, optimizer and RNG state). Under
``accelerate launch`` (``--accelerate``, DDP) the processes split each global batch of ``batch_size``
(see :mod:`lift3d.train.distributed`); only the main process writes the run folder.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lift3d.priors.bundled import BUNDLED_PRIOR_DIR, BundledArchitecture
from lift3d.train.prior_data import PriorData, PriorDataConfig, load_or_render
from lift3d.train.run_config import DiffusionTrainConfig, newest_checkpoint


@dataclass(frozen=True)
class TrainPriorConfig(DiffusionTrainConfig):
    """Train the bundled text prior (defaults reproduce the shipped weights). ``lift3d train-prior novel-view
    --help``: the bundled image-conditioned novel-view prior instead."""

    caption_dropout: float = 0.1
    """Probability of training a sample with the empty caption (enables classifier-free guidance)."""
    captions_per_label: int = 32
    """Caption wordings drawn per (family, colour), synonyms included."""
    accelerate: bool = False
    """Use accelerate.Accelerator (for ``accelerate launch``: data-parallel over processes/GPUs)."""
    data: PriorDataConfig = field(default_factory=PriorDataConfig)
    architecture: BundledArchitecture = field(default_factory=BundledArchitecture)
    init_from: Path | None = None
    """Start from the weights of an exported text prior folder (e.g. ``lift3d/assets/prior-text32``) instead of
    random ones: fine-tuning. Every architecture field must match the folder's, except that
    ``--architecture.azimuth-harmonics`` may be larger and ``--architecture.camera-raymap`` may be switched on
    (the new inputs' weights start at zero, so the start is the folder's model exactly). The EMA starts at these
    weights; a resumed run ignores it."""


def _caption_table(cfg: TrainPriorConfig, tokenizer, families: tuple[str, ...]) -> torch.Tensor:
    """``[F, C, K, L]`` token ids: K wordings per (family, colour)."""
    from lift3d.data import PALETTE, caption_for

    rng = random.Random(cfg.seed)
    table = []
    for family in families:
        rows = []
        for c in PALETTE:
            prompts = [caption_for(family, c.name, rng.randrange(1, 1 << 30)) for _ in range(cfg.captions_per_label)]
            prompts[0] = caption_for(family, c.name, 0)
            rows.append(tokenizer(prompts, padding="max_length", truncation=True,
                                  max_length=tokenizer.model_max_length, return_tensors="pt").input_ids)
        table.append(torch.stack(rows))
    return torch.stack(table)


def train_prior(cfg: TrainPriorConfig) -> Path:
    """Train (or resume) and return the run folder."""
    from lift3d.data import palette_rgb
    from lift3d.priors.bundled import (
        build_tokenizer,
        camera_condition_from_angles,
        caption_vocabulary,
        raymap_from_condition,
    )
    from lift3d.runs import RunDir
    from lift3d.train.diffusion_objective import draw_timesteps, min_snr_weights, training_target
    from lift3d.train.distributed import Distributed
    from lift3d.train.trainer import Ema, TrainerRun, set_threads

    set_threads(cfg)
    if cfg.export_only:
        return export_run(cfg)
    dist = Distributed.start(cfg.accelerate, cfg.batch_size)

    def render_once(run: RunDir) -> None:  # render the data cache once, before the other processes load it
        if dist.world > 1:
            load_or_render(run, cfg.data, torch.Generator().manual_seed(cfg.seed))

    run = TrainerRun.open(cfg, "train-prior", dist, prepare=render_once)
    arch = cfg.architecture
    tokenizer = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    unet, text_encoder, scheduler = arch.unet(), arch.text_encoder(len(tokenizer)), arch.scheduler()
    run.init_from({"unet": (unet, "unet/diffusion_pytorch_model.safetensors"),
                   "text_encoder": (text_encoder, "text_encoder/model.safetensors")},
                  "an exported text prior folder (e.g. lift3d/assets/prior-text32)", adapt=_widen_inputs)
    dist.seed_process(cfg.seed)
    data_gen = torch.Generator().manual_seed(cfg.seed)
    data: PriorData = load_or_render(run, cfg.data, data_gen)
    captions = _caption_table(cfg, tokenizer, data.families)
    uncond_ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length,
                           return_tensors="pt").input_ids[0]
    colours = palette_rgb()
    acp = scheduler.alphas_cumprod.float()
    loss_weight = min_snr_weights(acp, cfg.min_snr_gamma, arch.prediction_type)

    modules = {"unet": unet, "text_encoder": text_encoder}
    params = {f"{m}.{k}": p for m, mod in modules.items() for k, p in mod.named_parameters()}
    optim = torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    ema = Ema(params, cfg.ema_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = run.restore(unet=unet, text_encoder=text_encoder, optim=optim, sched=sched, ema=ema, rng=gen)
    unet_run, text_run, device = unet, text_encoder, torch.device("cpu")
    if dist.accelerator is not None:
        unet_run, text_run, optim = dist.accelerator.prepare(unet, text_encoder, optim)
        device = dist.accelerator.device
        ema.to(device)

    N, B = data.shade.shape[0], cfg.batch_size
    with run.progress(step) as bar:
        while step < cfg.steps:
            idx = torch.randint(0, N, (B,), generator=gen)
            col = torch.randint(0, colours.shape[0], (B,), generator=gen)
            variant = torch.randint(0, cfg.captions_per_label, (B,), generator=gen)
            drop = torch.rand(B, generator=gen) < cfg.caption_dropout
            t = draw_timesteps(B, acp.shape[0], gen, cfg.high_noise_fraction, cfg.high_noise_from)
            noise = torch.randn(B, 3, arch.resolution, arch.resolution, generator=gen)
            if dist.world > 1:  # this process's slice of the global batch
                part = dist.shard({"idx": idx, "col": col, "variant": variant, "drop": drop, "t": t, "noise": noise})
                idx, col, variant, drop, t, noise = (part[k].cpu() for k in ("idx", "col", "variant", "drop", "t",
                                                                             "noise"))
            ids = captions[data.family[idx], col, variant]
            ids = torch.where(drop[:, None], uncond_ids[None], ids)
            x0 = data.images(idx, colours[col]).permute(0, 3, 1, 2) * 2 - 1
            a = acp[t].sqrt()[:, None, None, None]
            s = (1 - acp[t]).sqrt()[:, None, None, None]
            x_t = a * x0 + s * noise
            cam = camera_condition_from_angles(data.elevation[idx], data.azimuth[idx], arch.azimuth_harmonics)
            text = text_run(ids.to(device)).last_hidden_state
            if arch.camera_raymap:
                x_t = torch.cat([x_t, raymap_from_condition(cam, arch.resolution)], dim=1)
            pred = unet_run(x_t.to(device), t.to(device), encoder_hidden_states=text, class_labels=cam.to(device)).sample
            target = training_target(x0, noise, acp[t], arch.prediction_type)
            per_sample = ((pred - target.to(device)) ** 2).mean(dim=(1, 2, 3))
            loss = (loss_weight[t].to(device) * per_sample).mean()
            optim.zero_grad(set_to_none=True)
            loss.backward() if dist.accelerator is None else dist.accelerator.backward(loss)
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
            optim.step()
            sched.step()
            step += 1
            ema.update(step)
            run.end_step(step, dist.mean({"loss": loss.item(), "mse": per_sample.mean().item()}), bar)
    return run.finish(lambda path: export_ema(ema.state_dict(), arch, tokenizer, scheduler, path,
                                              extra={"train_steps": step, "seed": cfg.seed}))


def _widen_inputs(part: str, weights: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> None:
    """``--init-from`` of a text prior folder with fewer inputs: a folder trained with fewer azimuth harmonics
    fills the camera embedding's first columns (the condition's layout is a prefix of the wider one), and one
    without a ray map fills the RGB input channels of ``conv_in``; the new columns and channels stay zero, so
    the loaded model computes exactly what the folder's does."""
    widened = {"class_embedding.linear_1.weight": 1, "conv_in.weight": 1}  # name -> input axis
    for key, axis in widened.items() if part == "unet" else ():
        if key not in weights or key not in own:
            continue
        old, new = weights[key], own[key]
        rest = [d for d in range(old.ndim) if d != axis]
        if old.ndim == new.ndim and all(old.shape[d] == new.shape[d] for d in rest) \
                and old.shape[axis] < new.shape[axis]:
            wider = torch.zeros_like(new)
            wider.narrow(axis, 0, old.shape[axis]).copy_(old)
            weights[key] = wider


def export_run(cfg: TrainPriorConfig) -> Path:
    """Export the newest valid checkpoint of ``cfg.output`` (its own saved config decides the architecture)."""
    from lift3d.priors.bundled import build_tokenizer, caption_vocabulary

    saved, step, state = newest_checkpoint(TrainPriorConfig, cfg.output, cfg.export_to)
    arch = saved.architecture
    tokenizer = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    export_ema(state["ema"], arch, tokenizer, arch.scheduler(), cfg.export_to,
               extra={"train_steps": step, "seed": saved.seed})
    return Path(cfg.output)


def export_ema(ema: dict[str, torch.Tensor], arch: BundledArchitecture, tokenizer, scheduler, path: Path,
               extra: dict | None = None) -> None:
    """Write EMA weights as the bundled diffusers-style folder."""
    from lift3d.priors.bundled import save_bundled
    from lift3d.train.trainer import copy_prefixed

    unet, text_encoder = arch.unet(), arch.text_encoder(len(tokenizer))
    copy_prefixed(unet, ema, "unet.")
    copy_prefixed(text_encoder, ema, "text_encoder.")
    save_bundled(Path(path), unet, text_encoder, tokenizer, scheduler, extra)


def main(argv: list[str], prog: str = "lift3d train-prior") -> None:
    """Train the text prior (``lift3d train-prior novel-view`` is :mod:`lift3d.train.novel_view`, dispatched by the CLI)."""
    from lift3d.errors import parse_args

    cfg = parse_args(TrainPriorConfig, argv, prog)
    path = train_prior(cfg)
    print(f"run: {path}", file=sys.stderr)


__all__ = ["BUNDLED_PRIOR_DIR", "TrainPriorConfig", "train_prior", "main"]
