"""Load a finished (or interrupted) run folder back into a scene rig."""

from __future__ import annotations

from pathlib import Path

import torch

from lift3d.types import LiftError


def load_generate_run(run_dir: Path, device: str = "cpu"):
    """``(GenerateConfig, rig)`` from a ``lift3d generate`` run's config and newest valid checkpoint."""
    from lift3d.config import load_config
    from lift3d.pipelines.generate import GenerateConfig
    from lift3d.runs import RunDir

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise LiftError(f"{run_dir} is not a lift3d run folder (no config.json); pass the folder 'lift3d generate' printed")
    try:
        cfg = load_config(GenerateConfig, run_dir / "config.json")
    except ValueError as e:
        raise LiftError(str(e)) from None
    found = RunDir(run_dir).latest()
    if found is None:
        raise LiftError(f"{run_dir} has no valid checkpoint yet; wait for the run to save one or resume it")
    _, state = found
    from lift3d.pipelines.generate import build_rig, stages

    index = state["stage"]
    rig = build_rig(stages(cfg)[index], index, None, cfg, torch.device(device), state)
    return cfg, rig
