"""Tiny, fast scenes and run folders for the viewer tests (no training: a checkpoint of a hand-made scene)."""

from __future__ import annotations

from pathlib import Path

import torch

from lift3d.scenes.gaussians import Gaussians, rgb_to_sh0


def two_blobs(seed: int = 0) -> Gaussians:
    """A red blob at the origin and a small blue one off-centre along +Y: any orbit changes the picture."""
    g = torch.Generator().manual_seed(seed)
    red = torch.randn(200, 3, generator=g) * 0.2
    blue = torch.randn(60, 3, generator=g) * 0.08 + torch.tensor([0.0, 0.5, 0.1])
    means = torch.cat([red, blue])
    rgb = torch.cat([torch.tensor([0.9, 0.1, 0.1]).expand(200, 3), torch.tensor([0.1, 0.2, 0.9]).expand(60, 3)])
    n = len(means)
    return Gaussians(means, torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4).clone(), torch.full((n, 3), -2.8),
                     torch.full((n,), 2.0), rgb_to_sh0(rgb)[:, None], torch.zeros(n, 0, 3))


def make_run(path: Path, steps: tuple[int, ...] = (10, 20)) -> Path:
    """A ``lift3d generate`` run folder (Gaussians stage) with one checkpoint per entry of ``steps``.

    Later checkpoints are shifted along +X, so versions differ visibly.
    """
    from lift3d.pipelines.generate import GenerateConfig, StageConfig
    from lift3d.pipelines.inits import RandomInit
    from lift3d.rigs.gaussians import GaussianRig, GaussianScene
    from lift3d.runs import RunDir

    spec = GaussianScene(num_points=32, densify=None)
    cfg = GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), stage=StageConfig(scene=spec, steps=max(steps, default=1)), output=path)
    run = RunDir.create(path)
    run.write_metadata(cfg, command=["lift3d", "generate", "a red cube"], seed=0)
    for i, step in enumerate(steps):
        scene = two_blobs()
        with torch.no_grad():
            scene.params["means"] += torch.tensor([0.3 * i, 0.0, 0.0])
        rig = GaussianRig(spec, scene)
        run.save(step, {"stage": 0, "step": step, "rig": rig.state(), "guidance": {"params": {}},
                        "rng": torch.Generator().manual_seed(0).get_state()}, keep_last=len(steps))
    return run.path
