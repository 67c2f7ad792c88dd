"""Measure the bundled prior and the bundled reward model; prints a JSON summary.

1. The reward model's zero-shot accuracy on held-out real renders: procedural objects of seeds never
   used in training (>= 10000) from random cameras, in every palette colour, classified among all
   families and all colours (:class:`lift3d.priors.zero_shot.ZeroShotClassifier`).
2. Samples of the prior (DDIM, classifier-free guidance; :func:`lift3d.priors.ddim.ddim_sample`) for
   every (family, colour) prompt "a {colour} {family}" from random training-range cameras, classified
   by the same reward model: the fraction whose shape and colour match the prompt.
3. Camera accuracy of the samples of square families (cube, pyramid, octahedron, table), whose yaw the
   azimuth fixes up to 90 degrees: the silhouette IoU of each sample with the family's canonical object
   rendered from the prompted camera, against the IoU with the same object turned 45 degrees (the worst
   yaw). A prior that ignores the azimuth's yaw scores both alike.
4. Azimuth sensitivity: the noise-prediction error on real renders of the same square families when the
   camera condition is turned by 0, 45, 90 and 180 degrees, at a few timesteps. The families' geometry
   repeats every 90 degrees but the procedural world's light is fixed, so a prior that reads the yaw from
   the azimuth is hurt most by 45 degrees, and one that reads only the shading by 180.
5. A PNG grid of prompts (rows) x camera azimuths (columns).

Run ``python -m lift3d.train.evaluate_prior`` (``--help`` for options) after the prior trains further.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.priors.bundled import BUNDLED_PRIOR_DIR
from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR


@dataclass(frozen=True)
class EvaluatePriorConfig:
    """What to measure (defaults produce the numbers in docs/reward_model.md)."""

    prior: Path = BUNDLED_PRIOR_DIR
    """Bundled prior folder."""
    reward: str = str(BUNDLED_REWARD_DIR)
    """CLIP folder or hub id used to classify."""
    heldout_seeds: int = 4
    """Held-out object seeds per family for the real-render accuracy."""
    heldout_views: int = 4
    """Random views per held-out object (each shown in every colour)."""
    samples_per_label: int = 1
    """Prior samples per (family, colour) prompt."""
    steps: int = 30
    """DDIM steps."""
    guidance_scale: float = 5.0
    seed: int = 0
    camera_families: tuple[str, ...] = ("cube", "pyramid", "octahedron", "table")
    """Families whose yaw the camera accuracy measures (square ones: their look repeats every 90 degrees)."""
    camera_samples: int = 12
    """Samples per camera-accuracy family (colours and cameras drawn at random, white left out)."""
    sensitivity_timesteps: tuple[int, ...] = (300, 500, 700)
    """Timesteps of the azimuth-sensitivity measurement."""
    sensitivity_turns: tuple[float, ...] = (0.0, 45.0, 90.0, 180.0)
    """Camera turns (degrees) of the azimuth-sensitivity measurement."""
    grid: Path | None = Path("docs/images/prior_samples.png")
    """Where to write the sample grid (None: no grid)."""
    grid_prompts: tuple[str, ...] = ("a red cube", "a blue sphere", "a green torus", "a yellow cone",
                                     "a purple mushroom", "an orange table", "a white snowman", "a cyan pyramid")
    grid_azimuths: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
    grid_elevation: float = 20.0
    output: Path | None = None
    """Also write the JSON summary here."""
    threads: int = 0
    """torch threads (0 keeps torch's default)."""


def _accuracy(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return round(float((pred == truth).float().mean()), 4)


def heldout_accuracy(classifier: Any, cfg: EvaluatePriorConfig) -> dict[str, Any]:
    """Zero-shot shape / colour / joint accuracy on held-out renders in every colour."""
    from lift3d.data import palette_rgb
    from lift3d.train.prior_data import PriorDataConfig, render_prior_data

    data = render_prior_data(PriorDataConfig(seeds_per_family=cfg.heldout_seeds, views_per_object=cfg.heldout_views,
                                             first_seed=10000), torch.Generator().manual_seed(cfg.seed + 10000))
    colours = palette_rgb()
    n, k = data.shade.shape[0], colours.shape[0]
    idx, col = torch.arange(n).repeat_interleave(k), torch.arange(k).repeat(n)
    pred = classifier((data.images(idx, colours[col]) * 255).round() / 255)
    fam = data.family[idx]
    return {"images": n * k, "shape_accuracy": _accuracy(pred.family, fam), "colour_accuracy": _accuracy(pred.colour, col),
            "joint_accuracy": round(float(((pred.family == fam) & (pred.colour == col)).float().mean()), 4),
            "chance_shape": round(1 / len(classifier.families), 4), "chance_colour": round(1 / k, 4)}


def sample_prompts(prior: Any, prompts: list[str], elevation: torch.Tensor, azimuth: torch.Tensor,
                   cfg: EvaluatePriorConfig, generator: torch.Generator, chunk: int = 70) -> torch.Tensor:
    """DDIM samples ``[B, R, R, 3]`` of ``prompts`` from cameras at (``elevation``, ``azimuth``) degrees."""
    from lift3d.priors.base import Conditions
    from lift3d.priors.ddim import ddim_sample

    uncond = prior.embed_text([""])
    out = []
    for i in range(0, len(prompts), chunk):
        sl = slice(i, i + chunk)
        cond = Conditions(text=prior.embed_text(prompts[sl]), uncond=uncond,
                          camera=prior.camera_condition_from_angles(elevation[sl], azimuth[sl]))
        out.append(ddim_sample(prior, cond, len(prompts[sl]), cfg.steps, cfg.guidance_scale, generator))
    return torch.cat(out)


def prior_accuracy(prior: Any, classifier: Any, cfg: EvaluatePriorConfig) -> dict[str, Any]:
    """Shape / colour accuracy of prior samples for every (family, colour) prompt."""
    from lift3d.data import caption_for
    from lift3d.priors.bundled import TRAIN_ELEVATION

    labels = [(f, c) for f in range(len(classifier.families)) for c in range(len(classifier.colours))]
    labels = labels * cfg.samples_per_label
    prompts = [caption_for(classifier.families[f], classifier.colours[c], 0) for f, c in labels]
    gen = torch.Generator().manual_seed(cfg.seed)
    lo, hi = TRAIN_ELEVATION
    elevation = lo + (hi - lo) * torch.rand(len(prompts), generator=gen)
    azimuth = 360.0 * torch.rand(len(prompts), generator=gen)
    images = sample_prompts(prior, prompts, elevation, azimuth, cfg, gen)
    pred = classifier(images)
    fam, col = torch.tensor([f for f, _ in labels]), torch.tensor([c for _, c in labels])
    per_family = {name: _accuracy(pred.family[fam == i], fam[fam == i]) for i, name in enumerate(classifier.families)}
    return {"samples": len(prompts), "shape_accuracy": _accuracy(pred.family, fam),
            "colour_accuracy": _accuracy(pred.colour, col), "shape_accuracy_per_family": per_family}


def silhouette(images: torch.Tensor, threshold: float = 0.12) -> torch.Tensor:
    """``[B, R, R]`` foreground of images over white: a pixel whose darkest channel is below ``1 - threshold``."""
    return (1.0 - images.min(dim=-1).values) > threshold


def draw_views(family: str, n: int, gen: torch.Generator) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """``n`` random (colour name, elevation, azimuth) for ``family``: colours from the palette without white,
    elevations in the training range, azimuths in [0, 360) degrees."""
    from lift3d.data import PALETTE
    from lift3d.priors.bundled import TRAIN_ELEVATION

    colours = [c.name for c in PALETTE if c.name != "white"]
    lo, hi = TRAIN_ELEVATION
    pick = torch.randint(0, len(colours), (n,), generator=gen)
    elevation = lo + (hi - lo) * torch.rand(n, generator=gen)
    azimuth = 360.0 * torch.rand(n, generator=gen)
    return [colours[int(i)] for i in pick], elevation, azimuth


def render_heldout(family: str, colours: list[str], elevation: torch.Tensor, azimuth: torch.Tensor,
                   resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB over white ``[n, R, R, 3]`` and coverage ``[n, R, R]`` of held-out objects (seeds 10000 + i) of
    ``family`` in ``colours[i]``, each from its own camera (elevation[i], azimuth[i]) at the training distance."""
    from lift3d.cameras import Cameras
    from lift3d.data import procedural_object, render_object
    from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG

    rgb, alpha = [], []
    for i, colour in enumerate(colours):
        cam = Cameras.from_spherical(elevation[i:i + 1], azimuth[i:i + 1], torch.full((1,), TRAIN_DISTANCE),
                                     TRAIN_FOV_DEG, resolution)
        out = render_object(procedural_object(family, colour, seed=10000 + i), cam, background=(1.0, 1.0, 1.0))
        rgb.append(out.rgb[0])
        alpha.append(out.alpha[0, ..., 0])
    return torch.stack(rgb), torch.stack(alpha)


def camera_accuracy(prior: Any, cfg: EvaluatePriorConfig) -> dict[str, Any]:
    """Silhouette IoU of samples with the canonical object from the prompted camera vs turned 45 degrees;
    the same for real renders of held-out objects (seeds >= 10000) from those cameras, the reference."""
    from lift3d.cameras import Cameras
    from lift3d.data import caption_for, procedural_object, render_object
    from lift3d.priors.bundled import TRAIN_DISTANCE, TRAIN_FOV_DEG

    gen = torch.Generator().manual_seed(cfg.seed + 2)
    n = cfg.camera_samples
    views = [draw_views(family, n, gen) for family in cfg.camera_families]
    prompts = [caption_for(family, c, 0) for family, (colours, _, _) in zip(cfg.camera_families, views)
               for c in colours]
    elevation, azimuth = torch.cat([v[1] for v in views]), torch.cat([v[2] for v in views])
    samples = silhouette(sample_prompts(prior, prompts, elevation, azimuth, cfg, gen))
    res = samples.shape[1]
    renders = torch.cat([render_heldout(family, *v, res)[1] > 0.5 for family, v in zip(cfg.camera_families, views)])

    def cameras(sl: slice, turn: float) -> Cameras:
        return Cameras.from_spherical(elevation[sl], azimuth[sl] + turn, torch.full((n,), TRAIN_DISTANCE),
                                      TRAIN_FOV_DEG, res)

    def ious(masks: torch.Tensor, turn: float) -> torch.Tensor:
        out = []
        for k, family in enumerate(cfg.camera_families):
            sl = slice(k * n, (k + 1) * n)
            truth = render_object(procedural_object(family, "red", variation=0.0), cameras(sl, turn)).alpha[..., 0] > 0.5
            m = masks[sl]
            out.append((m & truth).flatten(1).sum(1) / (m | truth).flatten(1).sum(1).clamp_min(1))
        return torch.cat(out)

    def summary(masks: torch.Tensor) -> dict[str, Any]:
        right, turned = ious(masks, 0.0), ious(masks, 45.0)
        per_family = {f: {"iou": round(float(right[k * n:(k + 1) * n].mean()), 4),
                          "iou_turned_45": round(float(turned[k * n:(k + 1) * n].mean()), 4)}
                      for k, f in enumerate(cfg.camera_families)}
        return {"iou": round(float(right.mean()), 4), "iou_turned_45": round(float(turned.mean()), 4),
                "right_yaw_fraction": round(float((right > turned).float().mean()), 4), "per_family": per_family}

    return {"samples": len(prompts), **summary(samples), "real_renders": summary(renders)}


@torch.no_grad()
def azimuth_sensitivity(prior: Any, cfg: EvaluatePriorConfig) -> dict[str, dict[str, list[float]]]:
    """Noise-prediction MSE of the prior on real renders of ``cfg.camera_families`` (held-out seeds, random
    colours and training-range cameras, the prompt's caption) with the camera condition turned by each of
    ``cfg.sensitivity_turns``: ``{family: {str(t): [mse per turn]}}``, the same noise for every turn."""
    from lift3d.data import caption_for

    gen = torch.Generator().manual_seed(cfg.seed + 3)
    n = cfg.camera_samples
    out: dict[str, dict[str, list[float]]] = {}
    for family in cfg.camera_families:
        colours, elevation, azimuth = draw_views(family, n, gen)
        x0 = render_heldout(family, colours, elevation, azimuth, prior.latent_size)[0].permute(0, 3, 1, 2) * 2 - 1
        text = prior.embed_text([caption_for(family, c, 0) for c in colours])
        out[family] = {}
        for step in cfg.sensitivity_timesteps:
            t = torch.full((n,), step)
            noise = torch.randn(x0.shape, generator=gen)
            x_t = prior.add_noise(x0, t, noise)
            out[family][str(step)] = [
                round(float(((prior.forward_unet(x_t, t, text, prior.camera_condition_from_angles(
                    elevation, azimuth + turn)) - noise) ** 2).mean()), 5) for turn in cfg.sensitivity_turns]
    return out


def write_grid(prior: Any, cfg: EvaluatePriorConfig, path: Path, scale: int = 2, pad: int = 2) -> None:
    """PNG of prompts (rows) x azimuths (columns), each tile upscaled ``scale`` x (nearest)."""
    from PIL import Image

    rows, cols = len(cfg.grid_prompts), len(cfg.grid_azimuths)
    prompts = [p for p in cfg.grid_prompts for _ in range(cols)]
    azimuth = torch.tensor(list(cfg.grid_azimuths) * rows)
    elevation = torch.full_like(azimuth, cfg.grid_elevation)
    images = sample_prompts(prior, prompts, elevation, azimuth, cfg, torch.Generator().manual_seed(cfg.seed + 1))
    r = images.shape[1] * scale
    tiles = images.permute(0, 3, 1, 2).repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    canvas = torch.ones(3, rows * (r + pad) + pad, cols * (r + pad) + pad)
    for i, tile in enumerate(tiles):
        y, x = pad + (i // cols) * (r + pad), pad + (i % cols) * (r + pad)
        canvas[:, y:y + r, x:x + r] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((canvas.permute(1, 2, 0) * 255).round().byte().numpy()).save(path, optimize=True)


def evaluate(cfg: EvaluatePriorConfig) -> dict[str, Any]:
    """Run every measurement and return the summary."""
    from lift3d.priors.bundled import BundledPrior
    from lift3d.priors.zero_shot import load_zero_shot

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    classifier = load_zero_shot(cfg.reward)
    prior = BundledPrior.from_pretrained(cfg.prior)
    index = json.loads((Path(cfg.prior) / "model_index.json").read_text())
    summary: dict[str, Any] = {
        "prior": str(cfg.prior), "prior_train_steps": index.get("lift3d", {}).get("train_steps"),
        "reward": cfg.reward, "ddim_steps": cfg.steps, "guidance_scale": cfg.guidance_scale, "seed": cfg.seed,
        "reward_on_heldout_renders": heldout_accuracy(classifier, cfg),
        "reward_on_prior_samples": prior_accuracy(prior, classifier, cfg),
        "camera_accuracy": camera_accuracy(prior, cfg),
        "azimuth_sensitivity": {"turns": list(cfg.sensitivity_turns), "mse": azimuth_sensitivity(prior, cfg)},
    }
    if cfg.grid is not None:
        write_grid(prior, cfg, Path(cfg.grid))
        summary["grid"] = str(cfg.grid)
    return summary


def main(argv: list[str] | None = None, prog: str = "python -m lift3d.train.evaluate_prior") -> None:
    from lift3d.train.evaluation_cli import evaluation_main

    evaluation_main(EvaluatePriorConfig, evaluate, argv, prog)


if __name__ == "__main__":
    main()
