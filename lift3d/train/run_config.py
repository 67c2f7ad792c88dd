"""What every ``lift3d train-*`` command shares: the run-folder, optimiser and checkpoint fields of its config,
and reading the newest checkpoint of a run for ``--export-only``.

The trainers (text prior, novel-view prior, reward model, reconstruction model) subclass
:class:`TrainRunConfig` and redeclare only the defaults that differ; a redeclared field keeps its place,
so ``--help`` lists the shared fields in the same order for every trainer, and saved run configs keep
their keys (old runs load unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainRunConfig:
    """Run folder, optimisation length, checkpointing and export of a training command."""

    output: Path | None = None
    """Run folder (default outputs/<command>/<timestamp>)."""
    export_to: Path | None = None
    """Write the trained model here when training ends (e.g. a folder of the package's assets)."""
    steps: int = 8000
    batch_size: int = 64
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 1e-2
    seed: int = 0
    checkpoint_every: int = 100
    threads: int = 0
    """torch threads (0 keeps torch's default)."""
    resume: bool = False
    """Continue the run in --output (or the newest one) from its last checkpoint."""
    export_only: bool = False
    """Only write the newest checkpoint of --output to --export-to (read-only on the run, safe while it trains)."""
    overwrite: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class DiffusionTrainConfig(TrainRunConfig):
    """A :class:`TrainRunConfig` for the bundled diffusion priors: EMA weights and Min-SNR-gamma loss weights
    ("Efficient Diffusion Training via Min-SNR Weighting Strategy", arXiv 2303.09556)."""

    ema_decay: float = 0.999
    """Decay of the exported exponential moving average of the weights."""
    min_snr_gamma: float = 5.0
    """Min-SNR-gamma loss weights for the architecture's prediction type (0: unweighted MSE on the target)."""
    high_noise_fraction: float = 0.0
    """Fraction of each batch whose timesteps are drawn from ``--high-noise-from`` .. T-1 instead of all T steps
    (the rest stay uniform): more training where an image's layout is decided
    (:func:`~lift3d.train.diffusion_objective.draw_timesteps`). 0 draws every timestep uniformly."""
    high_noise_from: int = 700
    """First timestep of the high-noise draw."""


def newest_checkpoint(config_type: type, output: Path | None, export_to: Path | None) -> tuple[Any, int, dict]:
    """(saved run config, step, state) of the newest valid checkpoint of the training run ``output``, for
    ``--export-only`` (the run's own config decides the architecture)."""
    from lift3d.config import load_config
    from lift3d.runs import latest_valid_checkpoint
    from lift3d.types import LiftError

    if output is None or export_to is None:
        raise LiftError("--export-only needs --output RUN_DIR and --export-to FOLDER")
    saved = load_config(config_type, Path(output) / "config.json")
    found = latest_valid_checkpoint(Path(output) / "ckpt")
    if found is None:
        raise LiftError(f"{output} has no valid checkpoint to export yet")
    _, step, state = found
    return saved, step, state


__all__ = ["DiffusionTrainConfig", "TrainRunConfig", "newest_checkpoint"]
