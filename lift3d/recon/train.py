"""``lift3d train-recon``: train the triplane-Gaussian reconstruction model on the procedural world.

Per step (TGS, arXiv 2312.09147, section 3.4, with LGM's MSE + alpha losses, arXiv 2402.05054): a batch
of objects in random palette colours; the model sees the canonical input view; its Gaussians are
rendered by :class:`lift3d.renderers.GaussianRenderer` from the input view and random other views;
loss = MSE(rgb) + ``mask_weight`` * MSE(alpha) + ``chamfer_weight`` * Chamfer(coarse and upsampled
points, surface samples). AdamW with warm-up and cosine decay, gradient clipping. Single process on
CPU, or under ``accelerate launch`` (``--accelerate``) on one or more GPUs. Checkpoints are atomic and
resume bit-exactly (model, optimizer, scheduler, RNG; the rendered data is cached in the run folder).
``--data.random-fraction 0.5`` (``--data.zeroverse.*``) replaces a seeded half of the family objects by Zeroverse-style
random compositions (:mod:`lift3d.recon.data`); the default 0 trains on the families exactly as before.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lift3d.recon.data import ReconDataConfig
from lift3d.recon.model import ReconArchitecture
from lift3d.train.run_config import TrainRunConfig

RECON_TINY_DIR = Path(__file__).resolve().parent.parent / "assets" / "recon-tiny"
"""The shipped tiny model (diffusers layout: config.json + diffusion_pytorch_model.safetensors)."""


@dataclass(frozen=True)
class TrainReconConfig(TrainRunConfig):
    """Train the reconstruction model (defaults: phase 1 of the shipped recon-tiny, see training/train_recon.sh)."""

    steps: int = 1600
    batch_size: int = 4
    lr: float = 1e-3
    warmup_steps: int = 100
    views_per_step: int = 3
    """Rendered supervision views per object: the input view plus random others."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at lr * min_lr_ratio."""
    mask_weight: float = 1.0
    chamfer_weight: float = 1.0
    keep_checkpoints: int = 2
    """Newest checkpoints kept in the run folder (older ones are deleted after each save; saves are atomic)."""
    accelerate: bool = False
    """Use accelerate.Accelerator (for ``accelerate launch``; single process works too)."""
    data: ReconDataConfig = field(default_factory=ReconDataConfig)
    architecture: ReconArchitecture = field(default_factory=ReconArchitecture)
    init_from: Path | None = None
    """Start from the weights of an exported model folder (e.g. ``lift3d/assets/recon-tiny``) instead of random
    ones, with a fresh optimizer and schedule: fine-tuning, e.g. on more objects (``--data.seeds-per-family``).
    ``--architecture`` must match the folder's; a resumed run ignores it."""


def chamfer_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric mean nearest-neighbour distance between ``a [B, N, 3]`` and ``b [B, M, 3]`` (batch mean)."""
    d = torch.cdist(a, b)
    return 0.5 * (d.min(2).values.mean() + d.min(1).values.mean())


def _lr_lambda(cfg: TrainReconConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    return f


def train_step(model, batch: dict[str, torch.Tensor], data, renderer, cfg: TrainReconConfig):
    """Losses of one batch (``obj [B]``, ``view [B, V]``, ``rgb [B, 3]``); returns (total, logs)."""
    from lift3d.recon.splats import render_batch

    images, alpha = data.images(batch["obj"], batch["view"], batch["rgb"])
    inputs = torch.cat([images[:, 0], alpha[:, 0]], dim=-1)
    out = model(inputs)
    cams = [data.cameras(int(o), v) for o, v in zip(batch["obj"], batch["view"])]
    render = render_batch(renderer, out.gaussians, cams)
    mse = torch.nn.functional.mse_loss(render.rgb, images.flatten(0, 1))
    mask = torch.nn.functional.mse_loss(render.alpha, alpha.flatten(0, 1))
    gt = data.points[batch["obj"]]
    cd = chamfer_loss(out.coarse, gt) + chamfer_loss(out.points, gt)
    loss = mse + cfg.mask_weight * mask + cfg.chamfer_weight * cd
    return loss, {"loss": loss.item(), "mse": mse.item(), "psnr": -10 * math.log10(max(mse.item(), 1e-10)),
                  "mask": mask.item(), "chamfer": cd.item()}


def sample_batch(cfg: TrainReconConfig, num_objects: int, num_views: int, gen: torch.Generator) -> dict:
    """Random objects, colours and supervision views (view 0, the input view, always first)."""
    from lift3d.data import palette_rgb

    B, V = cfg.batch_size, cfg.views_per_step
    obj = torch.randint(0, num_objects, (B,), generator=gen)
    colours = palette_rgb()
    rgb = colours[torch.randint(0, colours.shape[0], (B,), generator=gen)]
    others = torch.rand(B, num_views - 1, generator=gen).argsort(-1)[:, : V - 1] + 1
    return {"obj": obj, "rgb": rgb, "view": torch.cat([torch.zeros(B, 1, dtype=torch.long), others], -1)}


def train_recon(cfg: TrainReconConfig) -> Path:
    """Train (or resume) and return the run folder."""
    return fit_recon(cfg)[0]


def fit_recon(cfg: TrainReconConfig) -> tuple[Path, torch.nn.Module]:
    """Train (or resume); returns the run folder and this process's trained model.

    Under ``accelerate launch`` (``--accelerate``, DDP) every process draws the same global batch of
    ``batch_size`` from the shared data generator and trains on its own equal slice of it, so N processes
    see exactly the data of one process with the same global batch; DDP averages the gradients, and
    the logged metrics are means over all processes. Only the main process creates the run folder,
    renders the data cache and writes metrics and checkpoints; every process resumes from the newest
    checkpoint. Torch's global RNG is seeded ``seed + process index`` after the (identical) model init.
    """
    from lift3d.recon.data import load_recon_data, render_recon_data, save_recon_data
    from lift3d.renderers.gaussians import GaussianRenderer
    from lift3d.runs import RunDir
    from lift3d.train.distributed import Distributed
    from lift3d.train.trainer import TrainerRun, set_threads

    set_threads(cfg)
    if cfg.export_only:
        return Path(cfg.output or ""), export_run(cfg)
    if cfg.views_per_step < 1 or cfg.views_per_step > cfg.data.views + 1:
        raise ValueError(f"views_per_step must be in [1, data.views + 1 = {cfg.data.views + 1}]")
    dist = Distributed.start(cfg.accelerate, cfg.batch_size)

    def render_once(run: RunDir) -> None:  # the data cache, rendered by the main process only
        if not (run.path / "recon_data.safetensors").is_file():
            save_recon_data(render_recon_data(cfg.data, generator=torch.Generator().manual_seed(cfg.seed)),
                            run.path / "recon_data.safetensors")

    run = TrainerRun.open(cfg, "train-recon", dist, prepare=render_once, keep_last=max(1, cfg.keep_checkpoints))
    model = cfg.architecture.build()
    run.init_from(_weight_files(model), _EXPORTED)
    dist.seed_process(cfg.seed)
    data = load_recon_data(run.path / "recon_data.safetensors")
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _lr_lambda(cfg))
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = run.restore(model=model, optim=optim, sched=sched, rng=gen)
    accelerator = dist.accelerator
    if accelerator is not None:
        model, optim = accelerator.prepare(model, optim)
        data = type(data)(*(None if t is None else t.to(accelerator.device) for t in vars(data).values()))
    renderer = GaussianRenderer()
    core = model if accelerator is None else accelerator.unwrap_model(model)
    with run.progress(step) as bar:
        while step < cfg.steps:
            batch = dist.shard(sample_batch(cfg, data.shade.shape[0], data.shade.shape[1], gen))
            loss, logs = train_step(model, batch, data, renderer, cfg)
            optim.zero_grad(set_to_none=True)
            loss.backward() if accelerator is None else accelerator.backward(loss)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            logs = dist.mean(logs)
            logs["psnr"] = -10 * math.log10(max(logs["mse"], 1e-10))
            run.end_step(step, {"lr": sched.get_last_lr()[0], **logs}, bar, show=("loss", "psnr"))
    return run.finish(core.save_pretrained), core


_EXPORTED = "an exported reconstruction model folder (e.g. lift3d/assets/recon-tiny)"


def _weight_files(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Module, str]]:
    """The model and its safetensors file in a ``save_pretrained`` folder."""
    return {"the model": (model, "diffusion_pytorch_model.safetensors")}


def export_run(cfg: TrainReconConfig) -> torch.nn.Module:
    """Write the newest valid checkpoint of ``cfg.output`` with ``save_pretrained`` to ``cfg.export_to`` (the run's
    own saved config decides the architecture; read-only on the run, safe while it trains); returns the model."""
    from lift3d.train.run_config import newest_checkpoint

    saved, _, state = newest_checkpoint(TrainReconConfig, cfg.output, cfg.export_to)
    model = saved.architecture.build()
    model.load_state_dict(state["model"])
    model.save_pretrained(cfg.export_to)
    return model


def main(argv: list[str], prog: str = "lift3d train-recon") -> None:
    from lift3d.errors import parse_args

    cfg = parse_args(TrainReconConfig, argv, prog)
    print(f"run: {train_recon(cfg)}", file=sys.stderr)


if __name__ == "__main__":  # accelerate launch -m lift3d.recon.train --accelerate ...
    main(sys.argv[1:], prog="python -m lift3d.recon.train")

__all__ = ["RECON_TINY_DIR", "TrainReconConfig", "chamfer_loss", "export_run", "fit_recon", "train_recon", "main"]
