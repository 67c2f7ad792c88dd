"""``lift3d edit SOURCE "target prompt"``: edit an existing asset with a text prompt.

The source is loaded into its natural scene: a ``generate`` run folder (an earlier edit's too) into the rig of its
newest checkpoint (Gaussians, mesh, or its own field: a field is edited as the field it is, not through its
export, so nothing is lost to meshing), a ``reconstruct`` run folder into its ``export/splats.ply`` Gaussians,
a splat file (``.ply``/``.splat``/``.spz``/``.sog``) into Gaussians and a mesh (``.glb``/``.gltf``/``.obj``/``.ply``)
into the mesh rig (vertex colours; every face kept). Then one stage of the one loop
(:func:`lift3d.pipelines.optimize.optimize`, run by :func:`lift3d.pipelines.generate.run_stage`) optimizes it:

* guidance: Delta Denoising Score by default ("Delta Denoising Score", Hertz et al., arXiv 2304.07090) against the
  frozen unedited asset rendered from the step's cameras (:class:`~lift3d.pipelines.terms.source.SourceTerm`),
  described by the source prompt (the run's prompt, or ``--source-prompt``); ``stage.guidance:sds`` is the SDS
  baseline;
* identity: :class:`~lift3d.pipelines.terms.identity.IdentityTerm`, a robust per-element pull toward the source
  (Vox-E's idea, arXiv 2303.12048, simplified);
* ``--mode appearance`` freezes the geometry (Gaussians: means, rotations, scales and opacities get learning rate
  0, so they stay bit for bit; meshes: vertex learning rate 0); ``geometry+appearance`` (default) moves both.
  Gaussians are never densified in an edit, so each keeps its identity. A field has no separate appearance, so
  ``--mode appearance`` refuses a field run (edit its ``export/mesh.glb`` instead).

The run is a one-stage ``generate`` run (its ``config.json`` is a :class:`GenerateConfig` whose init names the
source), so it resumes exactly (``--resume``), and ``lift3d export``/``lift3d view`` read it as any run; the edit's
own settings are in ``edit.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from lift3d.export.asset import AssetOptions
from lift3d.guidance import DDSConfig, GuidanceConfig
from lift3d.pipelines.generate_config import GenerateConfig, StageConfig, checked_prompt
from lift3d.pipelines.prior_specs import BundledPriorSpec, PriorSpec
from lift3d.pipelines.terms.identity import IdentityConfig
from lift3d.sampling import OrbitSampler
from lift3d.types import LiftError

Mode = Literal["geometry+appearance", "appearance"]
Axes = Literal["auto", "z_up", "y_down"]
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")


@dataclass(frozen=True)
class EditStage:
    """The edit's optimization: guidance, steps and views."""

    guidance: GuidanceConfig = DDSConfig()
    """``stage.guidance:dds`` (default) or any other, e.g. ``stage.guidance:sds`` (the baseline)."""
    steps: int = 200
    resolution: int = 32
    views_per_step: int = 4
    sampler: OrbitSampler = StageConfig().sampler
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class EditConfig:
    """Edit an asset with a text prompt (DDS against the unedited source, plus an identity term)."""

    source: Path = Path("")
    """A generate/reconstruct run folder, a splat file (.ply/.splat/.spz/.sog) or a mesh (.glb/.obj/.ply)."""
    prompt: str = ""
    """What the edited asset should show, e.g. "a blue cube"."""
    source_prompt: str | None = None
    """What the source shows; default: the run's prompt (config.json). Required for files."""
    negative_prompt: str = ""
    mode: Mode = "geometry+appearance"
    """``appearance``: geometry frozen bit for bit; ``geometry+appearance``: both move."""
    stage: EditStage = EditStage()
    identity: IdentityConfig = IdentityConfig()
    min_faces: int = 2000
    """Geometry edits of a mesh with fewer faces: midpoint-subdivided (surface and colours unchanged) until it has
    at least this many, so there are vertices to move (a 12-triangle cube has 8). 0: never."""
    axes: Axes = "auto"
    """Axes of a splat file: auto is z_up (lift3d's world) for .ply, y_down (3DGS tools) for the other formats."""
    prior: PriorSpec = BundledPriorSpec()
    seed: int = 0
    output: Path | None = None
    """Run folder (default outputs/edit/<source name>/<timestamp>)."""
    resume: bool = False
    overwrite: bool = False
    val_every: int = 100
    checkpoint_every: int = 50
    turntable_frames: int = 24
    asset: AssetOptions = AssetOptions()
    export: bool = True
    quiet: bool = False
    device: str = "auto"


# ----------------------------------------------------------------------------------------------- the source
@dataclass
class Source:
    """An asset to edit: its kind, file, prompt (None: unknown), natural scene spec, and how to build a rig of
    an edit's spec from it (``build(spec, device, light)``)."""

    kind: str
    path: Path
    prompt: str | None
    scene: Any
    build: Callable[[Any, torch.device, Any], Any] = field(repr=False)


def resolve_source(path: Path, axes: Axes = "auto", min_faces: int = 0) -> Source:
    """The asset at ``path``, loaded (one line and nothing written when it is not one); a mesh file with fewer
    than ``min_faces`` faces is midpoint-subdivided (:func:`lift3d.export.mesh_subdivide.subdivide_to_faces`)."""
    from lift3d.export.splat_files import is_splat_file

    path = Path(path)
    if not str(path) or str(path) == ".":
        raise LiftError('no source; usage: lift3d edit SOURCE "target prompt" (a run folder, splat file or mesh)')
    if not path.exists():
        raise LiftError(f"{path} does not exist; pass a generate/reconstruct run folder, a splat file or a mesh")
    if path.is_dir():
        return _run_source(path, min_faces)
    if is_splat_file(path):
        return _splat_source(path, axes, None)
    if path.suffix.lower() in MESH_SUFFIXES:
        return _mesh_source(path, None, min_faces)
    raise LiftError(f"{path} is not an asset lift3d edits: pass a generate/reconstruct run folder, a splat file "
                    "(.ply/.splat/.spz/.sog) or a mesh (.glb/.gltf/.obj/.ply)")


def _saved_prompt(run: Path) -> tuple[str | None, str | None]:
    """``(config kind, prompt)`` of a run folder's config.json (None, None when it has none)."""
    try:
        data = json.loads((run / "config.json").read_text())["config"]
        return data.get("_kind"), (str(data.get("prompt") or "").strip() or None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, None


def _run_source(run: Path, min_faces: int = 0) -> Source:
    """A generate run: its newest checkpoint's rig; any other run folder: its export's splats, else its mesh."""
    from lift3d.pipelines.load import load_generate_run

    kind, prompt = _saved_prompt(run)
    if kind == "generate":
        _, rig = load_generate_run(run)

        def build(spec: Any, device: torch.device, light: Any) -> Any:
            return spec.build_from_previous(rig, torch.Generator().manual_seed(0), device, light)

        return Source("generate run", run, prompt, rig.spec, build)
    if (run / "export" / "splats.ply").is_file():
        return _splat_source(run / "export" / "splats.ply", "z_up", prompt)
    if (run / "export" / "mesh.glb").is_file():
        return _mesh_source(run / "export" / "mesh.glb", prompt, min_faces)
    raise LiftError(f"{run} is not an asset: no generate config.json with a checkpoint and no export/splats.ply or "
                    "export/mesh.glb; pass a run folder, a splat file or a mesh")


def _splat_source(path: Path, axes: Axes, prompt: str | None) -> Source:
    from lift3d.export.splat_files import load_splats
    from lift3d.rigs.gaussians import GaussianRig, GaussianScene

    if axes == "auto":
        axes = "z_up" if path.suffix.lower() == ".ply" and not path.name.lower().endswith(".compressed.ply") else "y_down"
    gaussians = load_splats(path, axes=axes).to_gaussians()
    if len(gaussians) == 0:
        raise LiftError(f"{path} holds no Gaussians; pass a splat file with at least one")

    def build(spec: Any, device: torch.device, light: Any) -> Any:
        return GaussianRig(spec, _copy_gaussians(gaussians).to(device))

    return Source("splats", path, prompt, GaussianScene(sh_degree=gaussians.max_sh_degree), build)


def _copy_gaussians(g: Any) -> Any:
    from lift3d.scenes.gaussians import Gaussians

    p = {k: v.detach().clone() for k, v in g.params.items()}
    return Gaussians(p["means"], p["quats"], p["scales"], p["opacities"], p["sh0"], p["shN"], isotropic=g.isotropic)


def _mesh_source(path: Path, prompt: str | None, min_faces: int = 0) -> Source:
    from lift3d.export.formats import load_mesh
    from lift3d.export.mesh_subdivide import subdivide_to_faces
    from lift3d.rigs.mesh import MeshScene

    mesh = load_mesh(path)  # one line when unreadable or without faces
    mesh = subdivide_to_faces(mesh, min_faces, max(4 * min_faces, len(mesh.faces)))

    def build(spec: Any, device: torch.device, light: Any) -> Any:
        return spec.build_from(mesh, device, light)

    return Source("mesh", path, prompt, MeshScene(max_faces=len(mesh.faces)), build)


# ----------------------------------------------------------------------------------------------- the run's config
def edit_scene(scene: Any, mode: Mode) -> Any:
    """The source's scene spec for an edit in ``mode``: Gaussians without densification (geometry at learning
    rate 0 in appearance mode), meshes with their vertices at rate 0 in appearance mode, fields as they are."""
    from lift3d.rigs.field import FieldScene
    from lift3d.rigs.gaussians import GaussianScene
    from lift3d.rigs.mesh import MeshScene

    appearance = mode == "appearance"
    if isinstance(scene, GaussianScene):
        lr = replace(scene.lr, means=0.0, quats=0.0, scales=0.0, opacities=0.0) if appearance else scene.lr
        return replace(scene, densify=None, lr=lr)
    if isinstance(scene, MeshScene):
        return replace(scene, lr_vertices=0.0, laplacian=0.0, normal_consistency=0.0) if appearance else scene
    if isinstance(scene, FieldScene) and appearance:
        raise LiftError("a field run has no separate appearance to edit: drop --mode appearance, or edit its "
                        "export/mesh.glb with --mode appearance")
    if mode not in ("appearance", "geometry+appearance"):
        raise LiftError(f"unknown --mode {mode!r}; choose appearance or geometry+appearance")
    return scene


def check_prompts(cfg: EditConfig, source: Source) -> str:
    """The source prompt; refuses an empty or too long target, a missing source prompt, and no change."""
    target = checked_prompt(cfg.prompt, 'the target prompt is empty; usage: lift3d edit SOURCE "a blue cube"')
    given = None if cfg.source_prompt is None else cfg.source_prompt.strip()
    source_prompt = given or source.prompt
    if not source_prompt:
        raise LiftError(f"{source.path} carries no prompt; say what it shows with --source-prompt \"a red cube\"")
    if source_prompt.casefold() == target.casefold():
        raise LiftError(f"the target prompt is the source prompt ({target!r}); an edit needs a different one")
    return source_prompt


def generate_config(cfg: EditConfig, source: Source) -> GenerateConfig:
    """The edit as a one-stage generate run (what config.json holds), checked before any compute."""
    from lift3d.pipelines.generate import validate_stages
    from lift3d.pipelines.inits import FileInit

    source_prompt = check_prompts(cfg, source)
    s = cfg.stage
    stage = StageConfig(scene=edit_scene(source.scene, cfg.mode), guidance=s.guidance, steps=s.steps,
                        resolution=s.resolution, views_per_step=s.views_per_step, sampler=s.sampler,
                        background=s.background)
    if cfg.identity.weight < 0 or cfg.identity.scale <= 0:
        raise LiftError("need --identity.weight >= 0 and --identity.scale > 0")
    axes = "y_down" if cfg.axes == "y_down" else "z_up"
    gen = GenerateConfig(prompt=cfg.prompt.strip(), negative_prompt=cfg.negative_prompt, source_prompt=source_prompt,
                         prior=cfg.prior, stage=stage, refine=None, init=FileInit(source.path, axes), seed=cfg.seed,
                         output=cfg.output, resume=cfg.resume, overwrite=cfg.overwrite, val_every=cfg.val_every,
                         checkpoint_every=cfg.checkpoint_every, turntable_frames=cfg.turntable_frames,
                         asset=cfg.asset, export=cfg.export, quiet=cfg.quiet, device=cfg.device)
    if cfg.checkpoint_every < 1 or cfg.val_every < 1 or cfg.turntable_frames < 0:
        raise LiftError("need --checkpoint-every >= 1, --val-every >= 1 and --turntable-frames >= 0")
    validate_stages(gen)
    return gen


# ----------------------------------------------------------------------------------------------- the run
def run_one_stage(gen: GenerateConfig, path: Path, device: torch.device, fresh_rig: Callable[[], Any],
                  terms: Callable[[Any, dict | None], list], settings: tuple[str, Any]) -> Path:
    """Run ``gen``'s one stage in ``path`` from ``fresh_rig()`` (or its newest checkpoint) with the extra
    ``terms(rig, saved terms or None)``, then write the turntable and exports as ``generate`` does.

    The prior and the starting rig are made before the folder is, so a run that cannot start writes nothing;
    ``settings`` is ``(file name, config)`` of the command's own settings, saved next to config.json."""
    from lift3d.config import save_config
    from lift3d.guidance import RewardConfig
    from lift3d.pipelines.generate import open_session, run_stage
    from lift3d.pipelines.inits import Start
    from lift3d.pipelines.outputs import finish_run
    from lift3d.runs import RunDir, deterministic_ops

    prior = gen.prior.build(device)
    if isinstance(gen.stage.guidance, RewardConfig):
        gen.stage.guidance.check_models(isinstance(gen.prior, BundledPriorSpec))
    rig = fresh_rig()
    s = open_session(gen, RunDir.create(path, resume=gen.resume, overwrite=gen.overwrite), prior, device)
    if s.state is None:
        save_config(settings[1], s.run.path / settings[0])
    saved = None if s.state is None else s.state.get("terms", {})
    start = Start(rig if s.state is None else None, first_stage_terms=terms(rig, saved))
    with deterministic_ops(device):
        rig = run_stage(s, 0, gen.stage, None, start)
        finish_run(rig, s.run, gen.stage, gen.turntable_frames, gen.asset if gen.export else None)
    return s.run.path


def identity_terms(config: IdentityConfig) -> Callable[[Any, dict | None], list]:
    """The edit's extra terms: the identity term (fresh from the source rig, or from the checkpoint)."""
    from lift3d.pipelines.terms.identity import IdentityTerm

    def make(rig: Any, saved: dict | None) -> list:
        if config.weight == 0:
            return []
        if saved is not None:
            return [IdentityTerm.restore(saved["identity"], config)]
        return [IdentityTerm.capture(rig, config)]

    return make


def edit(cfg: EditConfig) -> Path:
    """Run an edit; returns the run folder."""
    from lift3d.devices import resolve_device
    from lift3d.runs import RunDir

    if not cfg.prompt.strip():
        raise LiftError('the target prompt is empty; usage: lift3d edit SOURCE "a blue cube"')
    if cfg.min_faces < 0:
        raise LiftError(f"--min-faces must be >= 0 (0: never subdivide), got {cfg.min_faces}")
    source = resolve_source(cfg.source, cfg.axes, cfg.min_faces if cfg.mode == "geometry+appearance" else 0)
    gen = generate_config(cfg, source)
    device = resolve_device(cfg.device)
    name = "".join(c if c.isalnum() else "_" for c in source.path.stem.lower())[:60] or "source"
    path = RunDir.locate(cfg.output, name=f"edit/{name}", resume=cfg.resume, overwrite=cfg.overwrite)

    def fresh() -> Any:
        return source.build(gen.stage.scene, device, gen.prior.light)

    return run_one_stage(gen, path, device, fresh, identity_terms(cfg.identity), ("edit.json", cfg))


def positionals(argv: list[str], first: str, second: str) -> list[str]:
    """``SOURCE "prompt" [options]`` -> ``--source SOURCE --prompt "prompt" [options]`` (either may be a flag)."""
    from lift3d.errors import with_positional

    argv = with_positional(argv, first)
    if first not in argv:
        return with_positional(argv, second)
    i = argv.index(first)
    return [*argv[:i + 2], *with_positional(argv[i + 2:], second)]


def main(argv: list[str], prog: str = "lift3d edit") -> None:
    """CLI: ``lift3d edit SOURCE "target prompt" [--source-prompt "..."] [--mode appearance] [options]``."""
    from lift3d.errors import parse_args

    cfg = parse_args(EditConfig, positionals(list(argv), "--source", "--prompt"), prog)
    print(f"run: {edit(cfg)}", file=sys.stderr)


__all__ = ["EditConfig", "EditStage", "Source", "edit", "edit_scene", "generate_config", "main", "resolve_source",
           "run_one_stage"]
