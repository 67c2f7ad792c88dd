"""Measure the bundled novel-view prior on held-out objects; prints a JSON summary.

Held-out pairs: two different views of procedural objects of seeds never used in training (>= 10000) in a
random palette colour (:func:`lift3d.train.novel_view.sample_pairs`).

1. Epsilon MSE at fixed timesteps with shared noise, against baselines: predicting zero; the same network
   unconditionally (token and reference zeroed, CFG's branch); the same network given the reference of
   another held-out object (same pose); a randomly initialised network of the same architecture.
2. Novel-view samples (DDIM with classifier-free guidance, "Zero-1-to-3", arXiv 2303.11328 samples the
   same way): PSNR and foreground IoU against the ground-truth target view, next to the "copy the
   reference image" baseline (also on the pairs whose azimuth differs by more than 90 degrees), and the bundled reward model's shape / colour accuracy on the samples next
   to its accuracy on the ground-truth targets.
3. A PNG grid: per held-out object the reference, then (ground truth, sample) for several azimuth offsets.

Run ``python -m lift3d.train.evaluate_novel_view`` (``--help`` for options).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.priors.bundled_novel_view import NOVEL_VIEW_PRIOR_DIR
from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR
from lift3d.train.novel_view import PairBatch


@dataclass(frozen=True)
class EvaluateNovelViewConfig:
    """What to measure (defaults produce the numbers in docs/bundled_novel_view_prior.md)."""

    prior: Path = NOVEL_VIEW_PRIOR_DIR
    reward: str = str(BUNDLED_REWARD_DIR)
    """CLIP folder or hub id used to classify samples."""
    heldout_seeds: int = 2
    """Held-out object seeds per family."""
    heldout_views: int = 8
    """Views rendered per held-out object (pairs are drawn among them)."""
    pairs: int = 224
    """Held-out (reference, target) pairs for the epsilon MSE."""
    timesteps: tuple[int, ...] = (100, 300, 500, 700, 900)
    samples: int = 112
    """Held-out pairs sampled with DDIM (PSNR, IoU, reward accuracy)."""
    steps: int = 30
    """DDIM steps."""
    guidance_scale: float = 3.0
    foreground_threshold: float = 0.1
    """A pixel is foreground when some channel is darker than the white background by more than this."""
    seed: int = 0
    grid: Path | None = Path("docs/images/novel_view_samples.png")
    grid_objects: int = 8
    grid_azimuths: tuple[float, ...] = (45.0, 90.0, 180.0, 270.0)
    output: Path | None = None
    """Also write the JSON summary here."""
    threads: int = 0


def heldout_data(cfg: EvaluateNovelViewConfig) -> Any:
    """Renders of held-out objects (seeds >= 10000)."""
    from lift3d.train.prior_data import PriorDataConfig, render_prior_data_quantized

    data_cfg = PriorDataConfig(seeds_per_family=cfg.heldout_seeds, views_per_object=cfg.heldout_views,
                               first_seed=10000)
    return render_prior_data_quantized(data_cfg, torch.Generator().manual_seed(cfg.seed + 10000))


def heldout_pairs(data: Any, cfg: EvaluateNovelViewConfig, n: int, seed: int) -> PairBatch:
    """``n`` held-out pairs (deterministic in ``seed``)."""
    from lift3d.data import palette_rgb
    from lift3d.train.novel_view import sample_pairs

    return sample_pairs(data, cfg.heldout_views, palette_rgb(), n, torch.Generator().manual_seed(seed))


def eps_mse(prior: Any, pairs: PairBatch, timesteps: tuple[int, ...], seed: int,
            shuffled: torch.Tensor | None = None) -> dict[str, Any]:
    """Mean epsilon MSE per timestep for the model and the unconditional / other-reference / zero baselines."""
    from lift3d.priors.base import Branch
    from lift3d.priors.bundled_novel_view import pair_conditions

    ref, tgt = pairs.reference.permute(0, 2, 3, 1), pairs.target.permute(0, 2, 3, 1)
    cond = pair_conditions(prior, ref, pairs.pose)
    other = None if shuffled is None else pair_conditions(prior, ref[shuffled], pairs.pose)
    x0 = prior.encode(tgt)
    gen = torch.Generator().manual_seed(seed)
    rows: dict[str, list[float]] = {"model": [], "unconditional": [], "other_reference": [], "zero": []}
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=gen)
        tt = torch.full((x0.shape[0],), t)
        x_t = prior.add_noise(x0, tt, noise)
        out = prior.predict(x_t, tt, cond, [Branch.TEXT, Branch.UNCOND])
        rows["model"].append(float(((out[Branch.TEXT] - noise) ** 2).mean()))
        rows["unconditional"].append(float(((out[Branch.UNCOND] - noise) ** 2).mean()))
        if other is not None:
            rows["other_reference"].append(float(((prior.predict(x_t, tt, other, [Branch.TEXT])[Branch.TEXT] - noise)
                                                  ** 2).mean()))
        rows["zero"].append(float((noise ** 2).mean()))
    if other is None:
        del rows["other_reference"]
    return {k: [round(v, 4) for v in vals] for k, vals in rows.items()} | {
        f"{k}_mean": round(sum(v) / len(v), 4) for k, v in rows.items() if v}


def random_init_prior(prior_dir: Path, seed: int) -> Any:
    """The bundled architecture with freshly initialised weights (the random-network baseline)."""
    from lift3d.priors.bundled_novel_view import load_novel_view_prior

    prior = load_novel_view_prior(prior_dir)
    torch.manual_seed(seed)
    for module in (prior.unet, prior.image_encoder, prior.cc_projection):
        cls = type(module)
        fresh = cls.from_config(module.config) if hasattr(cls, "from_config") else cls(module.config)
        module.load_state_dict(fresh.state_dict())
    return prior


def sample_views(prior: Any, pairs: PairBatch, cfg: EvaluateNovelViewConfig, gen: torch.Generator,
                 chunk: int = 64) -> torch.Tensor:
    """DDIM samples ``[B, R, R, 3]`` of the target views of ``pairs``."""
    from lift3d.priors.bundled_novel_view import pair_conditions
    from lift3d.priors.ddim import ddim_sample

    ref = pairs.reference.permute(0, 2, 3, 1)
    out = []
    for i in range(0, ref.shape[0], chunk):
        cond = pair_conditions(prior, ref[i:i + chunk], pairs.pose[i:i + chunk])
        out.append(ddim_sample(prior, cond, cond.text.shape[0], cfg.steps, cfg.guidance_scale, gen))
    return torch.cat(out)


def image_scores(images: torch.Tensor, truth: torch.Tensor, threshold: float) -> dict[str, float]:
    """Mean PSNR (dB) and foreground IoU of ``images`` vs ``truth`` (both ``[B, R, R, 3]`` in [0, 1])."""
    mse = ((images - truth) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    fg_a = (1.0 - images).amax(-1) > threshold
    fg_b = (1.0 - truth).amax(-1) > threshold
    iou = (fg_a & fg_b).sum((1, 2)).float() / (fg_a | fg_b).sum((1, 2)).clamp_min(1).float()
    return {"psnr": round(float((-10 * mse.log10()).mean()), 2), "iou": round(float(iou.mean()), 4)}


def reward_accuracy(classifier: Any, images: torch.Tensor, family: torch.Tensor, colour: torch.Tensor) -> dict:
    pred = classifier(images)
    return {"shape_accuracy": round(float((pred.family == family).float().mean()), 4),
            "colour_accuracy": round(float((pred.colour == colour).float().mean()), 4)}


def write_grid(prior: Any, data: Any, cfg: EvaluateNovelViewConfig, path: Path, scale: int = 2, pad: int = 2) -> None:
    """Rows: held-out objects; columns: reference, then (ground truth, sample) per azimuth offset."""
    from PIL import Image

    from lift3d.data import palette_rgb
    from lift3d.priors.bundled_novel_view import NOVEL_VIEW_CONVENTION
    from lift3d.priors.zero123 import relative_pose_from_angles

    gen = torch.Generator().manual_seed(cfg.seed + 2)
    n, k = cfg.grid_objects, len(cfg.grid_azimuths)
    objects = torch.randperm(data.shade.shape[0] // cfg.heldout_views, generator=gen)[:n]
    ref_idx = objects * cfg.heldout_views
    colours = palette_rgb()
    rgb = colours[torch.arange(n) % colours.shape[0]]
    reference = data.images(ref_idx, rgb)
    # ground truth at the offsets: render each object again from the rotated cameras
    truth, poses = [], []
    for i, idx in enumerate(ref_idx.tolist()):
        el, az = data.elevation[idx].item(), data.azimuth[idx].item()
        family, seed = data.families[int(data.family[idx])], 10000 + int(objects[i]) % cfg.heldout_seeds
        views = _render_at(family, seed, el, [az + d for d in cfg.grid_azimuths], data.shade.shape[-1])
        truth.append(rgb[i] * views[0][..., None] + (1 - views[1][..., None]))
        e = torch.full((k,), el)
        a = torch.tensor([az + d for d in cfg.grid_azimuths])
        poses.append(relative_pose_from_angles(e, a, torch.ones(k), e, torch.full((k,), az), torch.ones(k),
                                               NOVEL_VIEW_CONVENTION))
    pairs = PairBatch(reference.repeat_interleave(k, 0).permute(0, 3, 1, 2), torch.cat(truth).permute(0, 3, 1, 2),
                      torch.cat(poses), ref_idx.repeat_interleave(k), (torch.arange(n) % colours.shape[0]).repeat_interleave(k))
    samples = sample_views(prior, pairs, cfg, gen)
    r = reference.shape[1] * scale
    cols = 1 + 2 * k
    canvas = torch.ones(3, n * (r + pad) + pad, cols * (r + pad) + pad)
    for row in range(n):
        tiles = [reference[row]] + [t for j in range(k) for t in (truth[row][j], samples[row * k + j])]
        for c, tile in enumerate(tiles):
            img = tile.permute(2, 0, 1).repeat_interleave(scale, 1).repeat_interleave(scale, 2)
            y, x = pad + row * (r + pad), pad + c * (r + pad)
            canvas[:, y:y + r, x:x + r] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((canvas.permute(1, 2, 0) * 255).round().byte().numpy()).save(path, optimize=True)


def _render_at(family: str, seed: int, elevation: float, azimuths: list[float], resolution: int) -> tuple:
    """White-albedo shading and alpha ``[K, R, R]`` of one procedural object from the given cameras."""
    from dataclasses import replace

    from lift3d.cameras import Cameras
    from lift3d.data import procedural_object, render_object
    from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG

    obj = replace(procedural_object(family, "white", seed=seed), rgb=(1.0, 1.0, 1.0))
    k = len(azimuths)
    cams = Cameras.from_spherical(torch.full((k,), elevation), torch.tensor(azimuths), torch.full((k,), TRAIN_DISTANCE),
                                  TRAIN_FOV_DEG, resolution)
    out = render_object(obj, cams, background=(0.0, 0.0, 0.0))
    return (out.rgb[..., 0] * 255).round() / 255, (out.alpha[..., 0] * 255).round() / 255


def evaluate(cfg: EvaluateNovelViewConfig) -> dict[str, Any]:
    """Run every measurement and return the summary."""
    from lift3d.priors.bundled_novel_view import load_novel_view_prior
    from lift3d.priors.zero_shot import load_zero_shot

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    prior = load_novel_view_prior(cfg.prior)
    index = json.loads((Path(cfg.prior) / "model_index.json").read_text())
    data = heldout_data(cfg)
    pairs = heldout_pairs(data, cfg, cfg.pairs, cfg.seed)
    n_obj = data.shade.shape[0] // cfg.heldout_views
    # another object's reference: shift the object by half the set (a different object, usually another family)
    shuffled = torch.arange(cfg.pairs).roll(cfg.pairs // 2)
    summary: dict[str, Any] = {
        "prior": str(cfg.prior), "train_steps": index.get("lift3d", {}).get("train_steps"), "seed": cfg.seed,
        "heldout_objects": n_obj, "pairs": cfg.pairs, "timesteps": list(cfg.timesteps),
        "eps_mse": eps_mse(prior, pairs, cfg.timesteps, cfg.seed, shuffled),
        "eps_mse_random_init": eps_mse(random_init_prior(cfg.prior, cfg.seed), pairs, cfg.timesteps, cfg.seed),
    }
    sample_pairs_ = heldout_pairs(data, cfg, cfg.samples, cfg.seed + 1)
    images = sample_views(prior, sample_pairs_, cfg, torch.Generator().manual_seed(cfg.seed + 3))
    truth, ref = sample_pairs_.target.permute(0, 2, 3, 1), sample_pairs_.reference.permute(0, 2, 3, 1)
    classifier = load_zero_shot(cfg.reward)
    family, colour = data.family[sample_pairs_.target_index], sample_pairs_.colour
    large = sample_pairs_.pose[:, 2] < 0  # |azimuth change| > 90 degrees
    summary["samples"] = {
        "count": cfg.samples, "ddim_steps": cfg.steps, "guidance_scale": cfg.guidance_scale,
        "foreground_threshold": cfg.foreground_threshold,
        "model_vs_target": image_scores(images, truth, cfg.foreground_threshold),
        "copy_reference_vs_target": image_scores(ref, truth, cfg.foreground_threshold),
        "large_rotation_pairs": int(large.sum()),
        "model_vs_target_large_rotation": image_scores(images[large], truth[large], cfg.foreground_threshold),
        "copy_reference_vs_target_large_rotation": image_scores(ref[large], truth[large], cfg.foreground_threshold),
        "reward_on_samples": reward_accuracy(classifier, images, family, colour),
        "reward_on_targets": reward_accuracy(classifier, truth, family, colour),
    }
    if cfg.grid is not None:
        write_grid(prior, data, cfg, Path(cfg.grid))
        summary["grid"] = str(cfg.grid)
    return summary


def main(argv: list[str] | None = None, prog: str = "python -m lift3d.train.evaluate_novel_view") -> None:
    from lift3d.train.evaluation_cli import evaluation_main

    evaluation_main(EvaluateNovelViewConfig, evaluate, argv, prog)


if __name__ == "__main__":
    main()
