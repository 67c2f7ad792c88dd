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


SPHERE_RADIUS = 0.5


def sphere_shell(n: int = 3000, radius: float = SPHERE_RADIUS) -> Gaussians:
    """Flat grey Gaussians tiling a sphere at the origin, each one's thin axis along the outward normal."""
    i = torch.arange(n, dtype=torch.float32) + 0.5
    z = 1.0 - 2.0 * i / n  # Fibonacci sphere
    phi = i * torch.pi * (3.0 - 5.0**0.5)
    r = (1.0 - z * z).sqrt()
    normal = torch.stack([r * phi.cos(), r * phi.sin(), z], -1)
    # the rotation taking +Z to the normal: axis z x n, angle acos(n_z) -> (w, x, y, z) = (1 + n_z, -n_y, n_x, 0)
    quats = torch.nn.functional.normalize(torch.stack([1.0 + z, -normal[:, 1], normal[:, 0], torch.zeros(n)], -1), dim=-1)
    side = (4.0 * torch.pi * radius**2 / n) ** 0.5
    scales = torch.log(torch.tensor([side, side, side * 0.05])).expand(n, 3).clone()
    rgb = torch.full((n, 3), 0.6)
    return Gaussians(normal * radius, quats, scales, torch.full((n,), 5.0), rgb_to_sh0(rgb)[:, None],
                     torch.zeros(n, 0, 3))


def make_field_run(path: Path) -> Path:
    """A generate run whose one checkpoint is a density grid holding a solid sphere of radius 0.5 (unlit: the
    renderer gives no normals unless asked)."""
    from lift3d.pipelines.generate import GenerateConfig, StageConfig
    from lift3d.pipelines.inits import RandomInit
    from lift3d.renderers.volume_config import VolumeRendererConfig
    from lift3d.rigs.field import FieldScene
    from lift3d.runs import RunDir
    from lift3d.scenes.density_grid import DensityGridConfig
    from lift3d.scenes.field import DensityActivation

    grid = DensityGridConfig(resolution=32, activation=DensityActivation(bias=0.0))
    spec = FieldScene(field=grid, lighting="none", renderer=VolumeRendererConfig(num_samples=96))
    cfg = GenerateConfig(prompt="a grey ball", refine=None, init=RandomInit(), stage=StageConfig(scene=spec, steps=10),
                         output=path)
    run = RunDir.create(path)
    run.write_metadata(cfg, command=["lift3d", "generate", "a grey ball"], seed=0)
    rig = spec.build(torch.Generator().manual_seed(0), torch.device("cpu"))
    axis = torch.linspace(-1.0, 1.0, grid.resolution)
    zz, yy, xx = torch.meshgrid(axis, axis, axis, indexing="ij")
    distance = (xx * xx + yy * yy + zz * zz).sqrt()
    with torch.no_grad():
        rig.scene.density_voxels.copy_(((SPHERE_RADIUS - distance) * 200.0).clamp(-20.0, 20.0)[None, None])
    run.save(10, {"stage": 0, "step": 10, "rig": rig.state(), "guidance": {"params": {}},
                  "rng": torch.Generator().manual_seed(0).get_state()})
    return run.path


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
