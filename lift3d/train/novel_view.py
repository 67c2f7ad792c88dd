"""``lift3d train-prior novel-view``: train the bundled Zero-1-to-3-style novel-view prior from scratch.

"Zero-1-to-3: Zero-shot One Image to 3D Object", Liu et al., arXiv 2303.11328: each sample is a pair of
views of one procedural object (the same colour) -- a reference view and a target view -- and the model
learns the target view given the reference image (concatenated to the noisy target) and the token
``cc_projection([image_embed(reference), T])`` with the relative pose ``T``
(:mod:`lift3d.priors.bundled_novel_view`). Objective as for the text prior (:mod:`lift3d.train.prior`):
DDPM epsilon prediction (arXiv 2006.11239; v prediction with ``--architecture.prediction-type
V``, :mod:`lift3d.train.diffusion_objective`), squared-cosine schedule (arXiv 2102.09672), Min-SNR-gamma
weights (arXiv 2303.09556), EMA export. With probability ``cond_dropout`` a sample is trained
unconditionally -- the token and the reference image are zeroed, as in Zero123 -- for classifier-free
guidance (arXiv 2207.12598). The image encoder and projection train jointly. Checkpoints resume
bit-exactly (model, EMA, optimizer and RNG state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lift3d.priors.bundled_novel_view import NOVEL_VIEW_CONVENTION, NOVEL_VIEW_PRIOR_DIR, NovelViewArchitecture
from lift3d.train.prior_data import PriorData, PriorDataConfig
from lift3d.train.run_config import DiffusionTrainConfig


@dataclass(frozen=True)
class TrainNovelViewConfig(DiffusionTrainConfig):
    """Train the bundled novel-view prior (defaults reproduce the shipped weights; see training/train_novel_view.sh)."""

    cond_dropout: float = 0.1
    """Probability of training a sample unconditionally (zero token and zero reference image)."""
    data: PriorDataConfig = field(default_factory=PriorDataConfig)
    """The text prior's renders (same seed = same data); pairs are two views of one object."""
    architecture: NovelViewArchitecture = field(default_factory=NovelViewArchitecture)
    init_from: Path | None = None
    """Start from the weights of an exported novel-view prior folder (e.g. ``lift3d/assets/novel-view32``)
    instead of random ones: fine-tuning, or switching ``--architecture.prediction-type`` (every other
    architecture field must match the folder's). The EMA starts at these weights; a resumed run ignores it."""


@dataclass
class PairBatch:
    """One batch of (reference, target) pairs: images ``[B, 3, R, R]`` in [0, 1] over white, pose ``[B, 4]``,
    the data rows of the target views ``[B]`` and the palette index of each pair's colour ``[B]``."""

    reference: torch.Tensor
    target: torch.Tensor
    pose: torch.Tensor
    target_index: torch.Tensor
    colour: torch.Tensor


def sample_pairs(data: PriorData, views_per_object: int, colours: torch.Tensor, batch: int,
                 gen: torch.Generator) -> PairBatch:
    """Random pairs of two different views of one object (views of object ``k`` are rows ``k*V .. k*V+V-1``)."""
    from lift3d.priors.zero123 import relative_pose_from_angles

    V = views_per_object
    target = torch.randint(0, data.shade.shape[0], (batch,), generator=gen)
    shift = torch.randint(1, V, (batch,), generator=gen)  # never the target view itself
    reference = (target // V) * V + (target % V + shift) % V
    colour = torch.randint(0, colours.shape[0], (batch,), generator=gen)
    rgb = colours[colour]
    dist = torch.full((batch,), 1.0)  # fixed in training; unused by the Stable Zero123 convention
    pose = relative_pose_from_angles(data.elevation[target], data.azimuth[target], dist, data.elevation[reference],
                                     data.azimuth[reference], dist, NOVEL_VIEW_CONVENTION)
    return PairBatch(data.images(reference, rgb).permute(0, 3, 1, 2), data.images(target, rgb).permute(0, 3, 1, 2),
                     pose, target, colour)


class NovelViewNet(torch.nn.Module):
    """The three trained modules with the conditioning of :class:`~lift3d.priors.zero123.Zero123Prior`."""

    def __init__(self, arch: NovelViewArchitecture) -> None:
        super().__init__()
        from lift3d.priors.bundled_novel_view import CLIP_MEAN, CLIP_STD

        self.arch = arch
        self.unet, self.image_encoder, self.cc_projection = arch.unet(), arch.image_encoder(), arch.cc_projection()
        self.register_buffer("clip_mean", torch.tensor(CLIP_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(CLIP_STD).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, reference: torch.Tensor, pose: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
        """The UNet output ``[B, 3, R, R]`` (``arch.prediction_type``); ``reference`` in [0, 1]; ``keep`` ``[B]`` bool (False = unconditional)."""
        from lift3d.priors.zero123 import clip_pixels

        embed = self.image_encoder(pixel_values=clip_pixels(reference, self.arch.resolution, self.clip_mean,
                                                            self.clip_std)).image_embeds
        token = self.cc_projection(torch.cat([embed, pose], dim=-1))[:, None, :]
        k = keep.to(x_t.dtype)
        x_in = torch.cat([x_t, (reference * 2 - 1) * k[:, None, None, None]], dim=1)
        return self.unet(x_in, t, encoder_hidden_states=token * k[:, None, None]).sample


def train_novel_view(cfg: TrainNovelViewConfig) -> Path:
    """Train (or resume) and return the run folder."""
    from lift3d.data import palette_rgb
    from lift3d.train.diffusion_objective import draw_timesteps, min_snr_weights, training_target
    from lift3d.train.prior_data import load_or_render
    from lift3d.train.trainer import Ema, TrainerRun, set_threads
    from lift3d.types import LiftError

    set_threads(cfg)
    if cfg.export_only:
        return export_run(cfg)
    arch = cfg.architecture
    if arch.resolution != cfg.data.resolution:
        raise LiftError(f"architecture resolution {arch.resolution} differs from data resolution {cfg.data.resolution}")
    if cfg.data.views_per_object < 2:
        raise LiftError("--data.views-per-object must be >= 2 (pairs of different views of one object)")
    run = TrainerRun.open(cfg, "train-novel-view")
    net = NovelViewNet(arch)
    run.init_from(_weight_files(net), _EXPORTED)
    scheduler = arch.scheduler()
    data: PriorData = load_or_render(run, cfg.data, torch.Generator().manual_seed(cfg.seed))
    colours = palette_rgb()
    acp = scheduler.alphas_cumprod.float()
    loss_weight = min_snr_weights(acp, cfg.min_snr_gamma, arch.prediction_type)

    params = dict(net.named_parameters())
    optim = torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    ema = Ema(params, cfg.ema_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = run.restore(net=net, optim=optim, sched=sched, ema=ema, rng=gen)

    B, R = cfg.batch_size, arch.resolution
    with run.progress(step) as bar:
        while step < cfg.steps:
            pairs = sample_pairs(data, cfg.data.views_per_object, colours, B, gen)
            keep = torch.rand(B, generator=gen) >= cfg.cond_dropout
            t = draw_timesteps(B, acp.shape[0], gen, cfg.high_noise_fraction, cfg.high_noise_from)
            noise = torch.randn(B, 3, R, R, generator=gen)
            x0 = pairs.target * 2 - 1
            x_t = acp[t].sqrt()[:, None, None, None] * x0 + (1 - acp[t]).sqrt()[:, None, None, None] * noise
            pred = net(x_t, t, pairs.reference, pairs.pose, keep)
            per_sample = ((pred - training_target(x0, noise, acp[t], arch.prediction_type)) ** 2).mean(dim=(1, 2, 3))
            loss = (loss_weight[t] * per_sample).mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
            optim.step()
            sched.step()
            step += 1
            ema.update(step)
            run.end_step(step, {"loss": loss.item(), "mse": per_sample.mean().item()}, bar)
    return run.finish(lambda path: export_ema(ema.state_dict(), arch, path, extra={"train_steps": step,
                                                                                    "seed": cfg.seed}))


_EXPORTED = "an exported novel-view prior folder (e.g. lift3d/assets/novel-view32)"


def _weight_files(net: NovelViewNet) -> dict[str, tuple[torch.nn.Module, str]]:
    """The modules of ``net`` and their safetensors files in an exported folder."""
    return {"unet": (net.unet, "unet/diffusion_pytorch_model.safetensors"),
            "image_encoder": (net.image_encoder, "image_encoder/model.safetensors"),
            "cc_projection": (net.cc_projection, "cc_projection/diffusion_pytorch_model.safetensors")}


def load_exported_weights(net: NovelViewNet, folder: Path) -> None:
    """Load an exported folder's ``unet/``, ``image_encoder/`` and ``cc_projection/`` safetensors into ``net``
    (strict: the architectures must match; a one-line :class:`~lift3d.types.LiftError` otherwise)."""
    from lift3d.train.trainer import load_folder_weights

    load_folder_weights(Path(folder), _weight_files(net), _EXPORTED)


def export_run(cfg: TrainNovelViewConfig) -> Path:
    """Export the newest valid checkpoint of ``cfg.output`` (its own saved config decides the architecture)."""
    from lift3d.train.run_config import newest_checkpoint

    saved, step, state = newest_checkpoint(TrainNovelViewConfig, cfg.output, cfg.export_to)
    export_ema(state["ema"], saved.architecture, cfg.export_to, extra={"train_steps": step, "seed": saved.seed})
    return Path(cfg.output)


def export_ema(ema: dict[str, torch.Tensor], arch: NovelViewArchitecture, path: Path,
               extra: dict[str, Any] | None = None) -> None:
    """Write EMA weights as the bundled Zero123-layout folder."""
    from lift3d.priors.bundled_novel_view import save_novel_view
    from lift3d.train.trainer import copy_prefixed

    net = NovelViewNet(arch)
    copy_prefixed(net, ema)
    save_novel_view(Path(path), arch, net.unet, net.image_encoder, net.cc_projection, arch.scheduler(), extra)


def main(argv: list[str], prog: str = "lift3d train-prior novel-view") -> None:
    import sys

    from lift3d.errors import parse_args

    cfg = parse_args(TrainNovelViewConfig, argv, prog)
    path = train_novel_view(cfg)
    print(f"run: {path}", file=sys.stderr)


__all__ = ["NOVEL_VIEW_PRIOR_DIR", "TrainNovelViewConfig", "load_exported_weights", "train_novel_view", "sample_pairs",
           "main"]
