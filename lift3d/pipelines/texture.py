"""``lift3d texture MESH "prompt"``: paint a UV texture onto a fixed mesh with a diffusion prior.

The mesh's geometry is fixed (bit for bit) and every face is kept; its texture (on the mesh's own UVs, or an
xatlas unwrap when it has none) is optimized by any guidance (SDS by default) through the texture rig
(:mod:`lift3d.rigs.texture`), the base-colour map, seen by the guidance under the prior's light: Latent-Paint's texture stage
(arXiv 2211.07600) and Fantasia3D's appearance stage (arXiv 2303.13873) in this toolkit's terms. The run is a
one-stage ``generate`` run (its ``config.json`` is a :class:`GenerateConfig` whose stage scene is
``texture``) run by :func:`lift3d.pipelines.edit.run_one_stage`, so it resumes exactly; it writes a turntable and
``export/mesh.glb``/``.obj`` (+ ``.png``)/``.ply`` with the texture; the command's settings are in
``texture.json``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lift3d.guidance import GuidanceConfig
from lift3d.pipelines.generate_config import COARSE, GenerateConfig, StageConfig, checked_prompt
from lift3d.pipelines.prior_specs import BundledPriorSpec, PriorSpec
from lift3d.sampling import OrbitSampler
from lift3d.types import LiftError


@dataclass(frozen=True)
class TextureStage:
    """The texture's optimization: guidance, steps and views."""

    guidance: GuidanceConfig = COARSE.guidance
    """``stage.guidance:sds`` (default: generate's first-stage SDS) or any other."""
    steps: int = 200
    resolution: int = 32
    views_per_step: int = 4
    sampler: OrbitSampler = COARSE.sampler
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class TextureConfig:
    """Texture a fixed mesh from a prompt (its UVs, or an xatlas unwrap; a base-colour map)."""

    mesh: Path = Path("")
    """A mesh (.glb/.gltf/.obj/.ply) in lift3d's world (about unit size, centred; GLB/OBJ +Y up, PLY +Z up)."""
    prompt: str = ""
    """What the textured mesh should look like, e.g. "a red cube"."""
    negative_prompt: str = ""
    texture_size: int = 512
    """Side of the square texture in texels (refused when its optimization would not fit in memory)."""
    lr: float = 1e-2
    """Adam learning rate of the texels."""
    lit: bool = True
    """The guidance sees the texture under the prior's light (``--no-lit``: unlit); the texture is the base colour
    either way."""
    levels: int = 7
    """Resolution levels (the texture plus coarser halvings, summed; 1: the plain texture), see
    :class:`lift3d.rigs.texture.TextureScene`."""
    stage: TextureStage = TextureStage()
    prior: PriorSpec = BundledPriorSpec()
    seed: int = 0
    output: Path | None = None
    """Run folder (default outputs/texture/<mesh name>/<timestamp>)."""
    resume: bool = False
    overwrite: bool = False
    val_every: int = 100
    checkpoint_every: int = 50
    turntable_frames: int = 24
    export: bool = True
    quiet: bool = False
    device: str = "auto"


def memory_bound(device: torch.device) -> int:
    """Bytes a texture may take: half the GPU's memory on CUDA, else half the machine's physical memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 2
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_texture_size(size: int, device: torch.device) -> None:
    """Refuse a texture whose optimization (texels, gradient, Adam state, copies) would not fit in memory."""
    from lift3d.rigs.texture import texture_bytes

    if size < 4:
        raise LiftError(f"--texture-size {size} is too small; use at least 4 (512 is the default)")
    need, bound = texture_bytes(size), memory_bound(device)
    if need > bound:
        largest = int((bound / texture_bytes(1)) ** 0.5)
        raise LiftError(f"--texture-size {size} needs about {need / 2**30:.1f} GiB to optimize, over this "
                        f"machine's bound of {bound / 2**30:.1f} GiB (half its memory); use {largest} or less")


def load_texture_mesh(path: Path) -> Any:
    """The mesh at ``path`` (one line when it is not a mesh or has no faces)."""
    from lift3d.export.formats import load_mesh
    from lift3d.export.splat_files import is_splat_file

    path = Path(path)
    if not str(path) or str(path) == ".":
        raise LiftError('no mesh; usage: lift3d texture MESH.glb "a red cube"')
    if not path.is_file():
        raise LiftError(f"{path} is not a mesh file; pass a .glb, .gltf, .obj or .ply mesh")
    if is_splat_file(path):
        raise LiftError(f"{path} holds 3DGS splats, not a mesh; texture a mesh (.glb/.obj/.ply), e.g. a run's "
                        "export/mesh.glb")
    mesh = load_mesh(path)
    side = float(max(mesh.extents)) if len(mesh.vertices) else 0.0
    if not 0.1 <= side <= 10.0:
        print(f"warning: {path} is {side:.3g} units across; lift3d's cameras frame about 2 units around the origin",
              file=sys.stderr)
    return mesh


def generate_config(cfg: TextureConfig) -> GenerateConfig:
    """The texture run as a one-stage generate run (what config.json holds), checked before any compute."""
    from lift3d.pipelines.generate import validate_stages
    from lift3d.pipelines.inits import FileInit
    from lift3d.priors.base import Branch
    from lift3d.rigs.texture import TextureScene

    prompt = checked_prompt(cfg.prompt, 'the prompt is empty; usage: lift3d texture MESH.glb "a red cube"')
    if cfg.levels < 1:
        raise LiftError(f"--levels must be >= 1 (1: the plain texture), got {cfg.levels}")
    if cfg.lr <= 0 or cfg.checkpoint_every < 1 or cfg.val_every < 1 or cfg.turntable_frames < 0:
        raise LiftError("need --lr > 0, --checkpoint-every >= 1, --val-every >= 1 and --turntable-frames >= 0")
    s = cfg.stage
    stage = StageConfig(scene=TextureScene(texture_size=cfg.texture_size, lr=cfg.lr, levels=cfg.levels, lit=cfg.lit), guidance=s.guidance,
                        steps=s.steps, resolution=s.resolution, views_per_step=s.views_per_step, sampler=s.sampler,
                        background=s.background)
    gen = GenerateConfig(prompt=prompt, negative_prompt=cfg.negative_prompt, prior=cfg.prior, stage=stage, refine=None,
                         init=FileInit(cfg.mesh), seed=cfg.seed, output=cfg.output, resume=cfg.resume,
                         overwrite=cfg.overwrite, val_every=cfg.val_every, checkpoint_every=cfg.checkpoint_every,
                         turntable_frames=cfg.turntable_frames, export=cfg.export, quiet=cfg.quiet, device=cfg.device)
    validate_stages(gen)
    if Branch.SOURCE in s.guidance.needs():
        raise LiftError("DDS compares with a source scene; a texture starts from none: use sds, vsd, sjc, nfsd, "
                        "csd or reward (lift3d edit edits a textured asset)")
    return gen


def texture(cfg: TextureConfig) -> Path:
    """Texture a mesh; returns the run folder."""
    from lift3d.devices import resolve_device
    from lift3d.pipelines.edit import run_one_stage
    from lift3d.runs import RunDir

    gen = generate_config(cfg)
    device = resolve_device(cfg.device)
    check_texture_size(cfg.texture_size, device)
    mesh = load_texture_mesh(cfg.mesh)
    name = "".join(c if c.isalnum() else "_" for c in Path(cfg.mesh).stem.lower())[:60] or "mesh"
    path = RunDir.locate(cfg.output, name=f"texture/{name}", resume=cfg.resume, overwrite=cfg.overwrite)

    def fresh() -> Any:
        return gen.stage.scene.build_from(mesh, device, gen.prior.light)

    return run_one_stage(gen, path, device, fresh, lambda rig, saved: [], ("texture.json", cfg))


def main(argv: list[str], prog: str = "lift3d texture") -> None:
    """CLI: ``lift3d texture MESH "prompt" [--texture-size 512] [stage.guidance:sds] [options]``."""
    from lift3d.errors import parse_args
    from lift3d.pipelines.edit import positionals

    cfg = parse_args(TextureConfig, positionals(list(argv), "--mesh", "--prompt"), prog)
    print(f"run: {texture(cfg)}", file=sys.stderr)


__all__ = ["TextureConfig", "TextureStage", "check_texture_size", "generate_config", "main", "texture"]
