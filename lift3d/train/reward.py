"""``lift3d train-reward``: train the bundled contrastive text-image reward model from scratch.

Objective: the symmetric InfoNCE loss of CLIP ("Learning Transferable Visual Models From Natural
Language Supervision", Radford et al., arXiv 2103.00020) with a learnable temperature (logit scale
clamped to 100). Each batch holds ``batch_size`` DISTINCT (family, colour) labels, so no caption in a
batch also describes another image of it (no false negatives). Images are procedural renders of the
training object seeds from random cameras (the same cached renders as ``lift3d train-prior``, colour
applied at batch time), lightly augmented (horizontal flip, shifts of up to 2 px over the white
background, Gaussian noise) so that imperfect samples of the prior are scored fairly; captions are
template wordings with synonyms. AdamW with warm-up and cosine decay. Checkpoints are atomic and
resume bit-exactly (model, optimizer, schedule and RNG state); the final weights are exported as a
transformers ``CLIPModel`` folder (:func:`lift3d.priors.bundled_reward.save_reward`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from lift3d.priors.bundled_reward import RewardArchitecture
from lift3d.train.prior_data import PriorDataConfig
from lift3d.train.run_config import TrainRunConfig


@dataclass(frozen=True)
class TrainRewardConfig(TrainRunConfig):
    """Train the bundled reward model (defaults reproduce the shipped weights)."""

    steps: int = 1600
    batch_size: int = 128
    """Distinct (family, colour) labels per batch (at most families x colours = 140)."""
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    captions_per_label: int = 32
    """Caption wordings drawn per (family, colour), synonyms included."""
    max_shift: int = 2
    """Random translation in pixels (augmentation)."""
    max_noise: float = 0.04
    """Per-image Gaussian pixel noise, std uniform in [0, max_noise] (augmentation)."""
    data: PriorDataConfig = field(default_factory=lambda: PriorDataConfig(seeds_per_family=32))
    architecture: RewardArchitecture = field(default_factory=RewardArchitecture)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching pairs (row i of ``image`` goes with row i of ``text``)."""
    logits = logit_scale.exp().clamp(max=100.0) * image @ text.T
    target = torch.arange(image.shape[0], device=image.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def augment(images: torch.Tensor, cfg: TrainRewardConfig, gen: torch.Generator) -> torch.Tensor:
    """Flip, shift (white fill) and add noise to ``[B, H, W, 3]`` images (deterministic in ``gen``)."""
    B, H, W, _ = images.shape
    flip = torch.rand(B, generator=gen) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(2), images)
    s = cfg.max_shift
    if s > 0:
        padded = F.pad(images.permute(0, 3, 1, 2), (s, s, s, s), value=1.0)
        dy = torch.randint(0, 2 * s + 1, (B,), generator=gen).tolist()
        dx = torch.randint(0, 2 * s + 1, (B,), generator=gen).tolist()
        images = torch.stack([padded[i, :, y:y + H, x:x + W] for i, (y, x) in enumerate(zip(dy, dx))])
        images = images.permute(0, 2, 3, 1)
    sigma = cfg.max_noise * torch.rand(B, 1, 1, 1, generator=gen)
    return (images + sigma * torch.randn(images.shape, generator=gen)).clamp(0.0, 1.0)


def _lr_factor(cfg: TrainRewardConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_reward(cfg: TrainRewardConfig) -> Path:
    """Train (or resume) and return the run folder."""
    from lift3d.data import palette_rgb
    from lift3d.priors.bundled import build_tokenizer, caption_vocabulary
    from lift3d.priors.bundled_reward import image_embeddings, save_reward, text_embeddings
    from lift3d.train.prior import _caption_table
    from lift3d.train.prior_data import load_or_render
    from lift3d.train.trainer import TrainerRun, set_threads
    from lift3d.types import LiftError

    set_threads(cfg)
    if cfg.export_only:
        return export_run(cfg)
    arch = cfg.architecture
    if arch.resolution != cfg.data.resolution:
        raise LiftError(f"architecture resolution {arch.resolution} differs from data resolution {cfg.data.resolution}")
    run = TrainerRun.open(cfg, "train-reward")
    tokenizer = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    model = arch.model(len(tokenizer))
    data = load_or_render(run, cfg.data, torch.Generator().manual_seed(cfg.seed))
    captions = _caption_table(cfg, tokenizer, data.families)  # [F, C, K, L]
    n_fam, n_col = captions.shape[:2]
    if not 1 < cfg.batch_size <= n_fam * n_col:
        raise LiftError(f"--batch-size must be in [2, {n_fam * n_col}] (distinct family-colour labels per batch)")
    colours = palette_rgb()
    by_family = [torch.nonzero(data.family == f).flatten() for f in range(n_fam)]

    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _lr_factor(cfg, s))
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = run.restore(model=model, optim=optim, sched=sched, rng=gen)

    B = cfg.batch_size
    model.train()
    with run.progress(step) as bar:
        while step < cfg.steps:
            label = torch.randperm(n_fam * n_col, generator=gen)[:B]
            fam, col = label // n_col, label % n_col
            pick = torch.rand(B, generator=gen)
            idx = torch.stack([by_family[f][int(p * len(by_family[f]))] for f, p in zip(fam.tolist(), pick.tolist())])
            variant = torch.randint(0, cfg.captions_per_label, (B,), generator=gen)
            images = augment(data.images(idx, colours[col]), cfg, gen)
            img, txt = image_embeddings(model, images), text_embeddings(model, captions[fam, col, variant])
            loss = contrastive_loss(img, txt, model.logit_scale)
            with torch.no_grad():
                acc = ((img @ txt.T).argmax(dim=1) == torch.arange(B)).float().mean().item()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, math.log(100.0))
            step += 1
            run.end_step(step, {"loss": loss.item(), "batch_acc": acc, "logit_scale": model.logit_scale.exp().item(),
                                "lr": sched.get_last_lr()[0]}, bar)
    return run.finish(lambda path: save_reward(path, model.eval(), tokenizer))


def export_run(cfg: TrainRewardConfig) -> Path:
    """Export the newest valid checkpoint of ``cfg.output`` (its own saved config decides the architecture)."""
    from lift3d.priors.bundled import build_tokenizer, caption_vocabulary
    from lift3d.priors.bundled_reward import save_reward
    from lift3d.train.run_config import newest_checkpoint

    saved, _, state = newest_checkpoint(TrainRewardConfig, cfg.output, cfg.export_to)
    tokenizer = build_tokenizer(caption_vocabulary(), saved.architecture.max_tokens)
    model = saved.architecture.model(len(tokenizer))
    model.load_state_dict(state["model"])
    save_reward(Path(cfg.export_to), model.eval(), tokenizer)
    return Path(cfg.output)


def main(argv: list[str], prog: str = "lift3d train-reward") -> None:
    from lift3d.errors import parse_args

    cfg = parse_args(TrainRewardConfig, argv, prog)
    path = train_reward(cfg)
    print(f"run: {path}", file=sys.stderr)


__all__ = ["TrainRewardConfig", "augment", "contrastive_loss", "export_run", "train_reward", "main"]
