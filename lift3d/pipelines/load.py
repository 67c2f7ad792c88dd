"""Load a ``lift3d generate`` run (finished or interrupted) back into a scene rig: for ``lift3d export``, the
viewer and resume. Needs only the run's config and checkpoint, not the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lift3d.pipelines.generate_config import GenerateConfig, stages
from lift3d.types import LiftError


def rig_from_state(cfg: GenerateConfig, state: dict[str, Any], device: torch.device) -> Any:
    """The rig of checkpoint ``state`` (its stage's scene kind). A state saved at its stage's last step with a size
    normalization (``normalize``, stored next to the optimized scene) comes back normalized."""
    from lift3d.pipelines.normalize_size import apply_move

    index = state["stage"]
    stage = stages(cfg)[index]
    generator = torch.Generator().manual_seed(cfg.seed + 7919 + index)
    rig = stage.scene.build_from_state(state["rig"], generator, device, cfg.prior.light)
    if "normalize" in state and state["step"] >= stage.steps:
        apply_move(rig, state["normalize"])
    return rig


def load_generate_run(run_dir: Path, device: str = "cpu") -> tuple[GenerateConfig, Any]:
    """``(GenerateConfig, rig)`` from a ``lift3d generate`` run's config and newest valid checkpoint."""
    from lift3d.config import load_config
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
    return cfg, rig_from_state(cfg, found[1], torch.device(device))
