"""The 2D guidance playground: optimise images directly with any guidance and prior.

The quickest way to see a loss work: no renderer, no 3D. By default the prior is analytic (a point
mass at a procedural target image, so the optimum is known), optionally a mixture of four targets
(mode seeking vs mode covering), a 2x2 multi-view set (one target per azimuth 0/90/180/270), or a
tiny random diffusers UNet (plumbing only). Writes a progress grid PNG: one row per snapshot, one
column per optimised image, the targets in the last row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import torch

from lift3d.cameras import Cameras
from lift3d.guidance import GuidanceConfig, RewardConfig, SDSConfig
from lift3d.priors.analytic import AnalyticPrior, GaussianMixture, images_to_samples
from lift3d.priors.base import Conditions
from lift3d.priors.rewards import TargetReward
from lift3d.sampling import turntable
from lift3d.types import RenderOutput


class PlaygroundPrior(str, Enum):
    """Which prior the playground distils from."""

    POINT_MASS = "point-mass"
    MIXTURE = "mixture"
    MULTIVIEW = "multiview"
    TINY_UNET = "tiny-unet"


@dataclass(frozen=True)
class PlaygroundConfig:
    """Optimise images with a guidance loss against a prior and save a progress grid."""

    guidance: GuidanceConfig = field(default_factory=lambda: SDSConfig(guidance_scale=7.5))
    """The loss (a subcommand per guidance)."""
    prior: PlaygroundPrior = PlaygroundPrior.POINT_MASS
    """Analytic point mass / 4-mode mixture / 2x2 multi-view point masses, or a tiny random UNet."""
    resolution: int = 16
    """Side of the optimised images (and of the prior's sample space)."""
    num_images: int = 4
    """Images (particles) optimised together; the multi-view prior always uses 4 (one per view)."""
    steps: int = 300
    """Optimisation steps."""
    lr: float = 0.05
    """Adam learning rate on the images' logits."""
    snapshots: int = 6
    """Rows in the progress grid."""
    seed: int = 0
    """Seed of the initialisation and of every random draw."""
    out: Path = Path("outputs/playground")
    """Output directory; the grid is written to ``out/playground.png``."""


def procedural_targets(n: int, resolution: int) -> torch.Tensor:
    """``[n, r, r, 3]`` distinct smooth test images in [0, 1] (coloured discs on gradients)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution), indexing="ij")
    images = []
    for i in range(n):
        a = 2 * math.pi * i / max(n, 1)
        base = torch.stack([0.5 + 0.4 * math.cos(a) * xs, 0.5 + 0.4 * math.sin(a) * ys,
                            torch.full_like(xs, 0.2 + 0.6 * (i % 2))], dim=-1)
        disc = (((xs - 0.4 * math.cos(a)) ** 2 + (ys - 0.4 * math.sin(a)) ** 2) < 0.2).float()[..., None]
        colour = torch.tensor([0.9 * (i % 3 == 0), 0.9 * (i % 3 == 1), 0.9 * (i % 3 == 2)]) + 0.05
        images.append(base * (1 - disc) + colour * disc)
    return torch.stack(images).clamp(0, 1)


def build_problem(cfg: PlaygroundConfig, init: torch.Tensor) -> tuple[torch.nn.Module, Conditions, torch.Tensor]:
    """Prior, conditions and ``[K, r, r, 3]`` targets; analytic index 2 is a point mass at ``init``."""
    r, b = cfg.resolution, init.shape[0]
    source = GaussianMixture(images_to_samples(init[:1])[:, None], 0.0)
    if cfg.prior is PlaygroundPrior.TINY_UNET:
        prior = tiny_random_unet_prior(r, cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        states = [torch.randn(1, 4, 32, generator=gen) for _ in range(4)]
        conds = Conditions(text=states[0].expand(b, -1, -1), uncond=states[1], negative=states[2], source=states[3],
                           view_independent=states[0], source_images=init)
        return prior, conds, init[:0]
    if cfg.prior is PlaygroundPrior.MIXTURE:
        targets = procedural_targets(4, r)
        modes = images_to_samples(targets)
        prior = AnalyticPrior([GaussianMixture(modes, 0.0), GaussianMixture(torch.cat([modes, -modes]), 1e-3), source], r)
    else:
        targets = procedural_targets(4 if cfg.prior is PlaygroundPrior.MULTIVIEW else 1, r)
        point = AnalyticPrior.point_mass(targets)
        prior = AnalyticPrior([point.distributions[0], point.distributions[1], source], r)
    conds = AnalyticPrior.conditions(b, text=0, uncond=1, negative=1, source=2).with_(source_images=init)
    return prior, conds, targets


def tiny_random_unet_prior(resolution: int, seed: int) -> torch.nn.Module:
    """A random pixel-space ``UNet2DConditionModel`` with SD's schedule (for plumbing, not pictures)."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    from lift3d.priors.unet import UNetPrior

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=resolution, in_channels=3, out_channels=3,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=8)
    return UNetPrior(unet, DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012))


def save_grid(rows: list[torch.Tensor], path: Path) -> None:
    """Write rows of ``[N, r, r, 3]`` images (padded to the widest row) as one PNG."""
    from PIL import Image

    width = max(row.shape[0] for row in rows)
    r = rows[0].shape[1]
    grid = torch.ones(len(rows) * (r + 1), width * (r + 1), 3)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            grid[i * (r + 1):i * (r + 1) + r, j * (r + 1):j * (r + 1) + r] = im
    scale = max(1, 256 // max(r, 1))
    img = Image.fromarray((grid.clamp(0, 1) * 255).round().byte().numpy())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


class ImageRig:
    """The playground's "scene": ``[B, r, r, 3]`` pixel logits, shown through a sigmoid from every camera (the
    part of the :class:`~lift3d.rigs.base.Rig` protocol that the loop uses)."""

    def __init__(self, logits: torch.Tensor, lr: float) -> None:
        self.logits = logits.requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.logits], lr=lr)

    @property
    def scene_device(self) -> torch.device:
        return self.logits.device

    def render(self, cameras, background, generator, step: int = 0) -> RenderOutput:
        images = torch.sigmoid(self.logits)
        return RenderOutput(rgb=images, alpha=torch.ones_like(images[..., :1]))

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]:
        return {}

    def before_step(self, step: int, generator: torch.Generator) -> None:
        """Nothing."""

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def before_backward(self, step: int, out: RenderOutput | None) -> None:
        """Nothing."""

    def step(self, step: int, out: RenderOutput | None, cameras) -> None:
        self.optimizer.step()


@dataclass(frozen=True)
class FixedCameras:
    """A sampler that always gives the same cameras (the images' own)."""

    cameras: Cameras

    def sample(self, n: int, width: int, height: int | None = None, step: int = 0, generator=None,
               group: int = 1) -> Cameras:
        return self.cameras


class _Prompts:
    """Conditions that do not depend on the cameras (the playground's analytic or random embeddings)."""

    def __init__(self, conditions: Conditions) -> None:
        self._conditions = conditions

    def conditions(self, cameras=None, perp_neg=None, **extra: torch.Tensor) -> Conditions:
        return self._conditions.with_(**extra) if extra else self._conditions


def run_playground(cfg: PlaygroundConfig) -> Path:
    """Optimise ``num_images`` images with ``cfg.guidance`` on the one loop; returns the written grid's path."""
    from lift3d.pipelines.optimize import Guided, Views, optimize

    if cfg.steps <= 0 or cfg.resolution < 4:
        raise ValueError(f"steps must be > 0 and resolution >= 4, got {cfg.steps} and {cfg.resolution}")
    gen = torch.Generator().manual_seed(cfg.seed)
    b = 4 if cfg.prior is PlaygroundPrior.MULTIVIEW else cfg.num_images
    rig = ImageRig(0.1 * torch.randn(b, cfg.resolution, cfg.resolution, 3, generator=gen), cfg.lr)
    prior, conds, targets = build_problem(cfg, torch.sigmoid(rig.logits.detach()))
    if isinstance(cfg.guidance, RewardConfig):
        guidance = cfg.guidance.build(prior, TargetReward(targets[:1]) if len(targets) else None)
    else:
        guidance = cfg.guidance.build(prior)
    views = Views(FixedCameras(turntable(b, cfg.resolution, elevation_deg=0.0)), b, cfg.resolution)
    keep = {round(i * (cfg.steps - 1) / max(cfg.snapshots - 1, 1)) + 1 for i in range(cfg.snapshots)}
    rows: list[torch.Tensor] = []

    def snapshot(s) -> None:
        if s.step in keep:
            rows.append(torch.sigmoid(rig.logits.detach()))

    optimize(rig, Guided(guidance, _Prompts(conds)), views, [], gen, 0, cfg.steps, [snapshot])
    if len(targets):
        rows.append(targets)
    path = Path(cfg.out) / "playground.png"
    save_grid(rows, path)
    return path


def main(argv: list[str], prog: str = "lift3d playground") -> None:
    """CLI: ``lift3d playground [options]``."""
    import sys

    from lift3d.errors import parse_args

    path = run_playground(parse_args(PlaygroundConfig, argv, prog))
    print(f"progress grid: {path}", file=sys.stderr)
