"""``lift3d generate "prompt"``: text-to-3D by score distillation (DreamFusion, arXiv 2209.14988, and
its descendants through the guidance choice), one visible loop per stage.

Per step: sample orbit cameras -> render the scene -> guidance loss from the frozen prior (+ scene
regularizers) -> one optimizer step -> scene hooks. Validation renders every ``val_every`` steps,
atomic checkpoints every ``checkpoint_every`` steps, exact resume (scene, optimizer, guidance state and
RNG), a turntable and exports at the end.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import torch

from lift3d.config import choice
from lift3d.export.asset import AssetOptions
from lift3d.export.splats import SplatAxes
from lift3d.guidance import GuidanceConfig, RewardConfig, SDSConfig, TimestepSchedule
from lift3d.guidance.clip_loss import ClipLossConfig
from lift3d.guidance.nfsd import NFSD_NEGATIVE_PROMPT
from lift3d.pipelines.prior_specs import BundledPriorSpec, PriorSpec
from lift3d.pipelines.rig_gaussians import GaussianRig, GaussianScene
from lift3d.pipelines.rig_mesh import MeshScene
from lift3d.pipelines.rigs import FieldScene
from lift3d.pipelines.sample_reconstruct import SampleReconstruct
from lift3d.pipelines.sample_terms import SampleTerms
from lift3d.pipelines.source_renders import SourceRenders
from lift3d.priors.base import Branch, views_per_sample
from lift3d.priors.perp_neg import PerpNegConfig
from lift3d.sampling import OrbitSampler, Range
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError

MAX_PROMPT_CHARS = 300


@dataclass(frozen=True)
class StageConfig:
    """One optimization stage."""

    scene: choice(FieldScene, GaussianScene, MeshScene) = FieldScene()  # type: ignore[valid-type]
    guidance: GuidanceConfig = SDSConfig(guidance_scale=10.0, timesteps=TimestepSchedule(0.02, (0, 0.98, 0.5, 400)))
    steps: int = 400
    resolution: int = 32
    """Render side in pixels (the bundled prior is 32 px; SD-class priors resize to their own)."""
    views_per_step: int = 4
    sampler: OrbitSampler = OrbitSampler(elevation=Range((-10.0, 60.0)), distance=Range((2.75, 2.75)),
                                         fov_y=Range((40.0, 40.0)))
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    clip: choice(ClipLossConfig, type(None)) = None  # type: ignore[valid-type]
    """Dream Fields' CLIP loss on the renders next to the guidance (``stage.clip:clip-loss``), None = off."""


@dataclass(frozen=True)
class GenerateConfig:
    """Text-to-3D: optimize a scene so its renders look like the prompt to a diffusion prior."""

    prompt: str = ""
    """What to generate, e.g. "a red cube"."""
    negative_prompt: str = ""
    """What to avoid (used as CFG's unconditional branch by guidances that support it). Empty: none, except for
    guidances that need one (NFSD, CSD with a negative scale), which get NFSD's paper prompt
    (``lift3d.guidance.nfsd.NFSD_NEGATIVE_PROMPT``)."""
    source_prompt: str | None = None
    """What the source shows, for DDS (``stage.guidance:dds``), whose source is the scene each stage starts from
    (the initial scene, the ``--init`` asset or the previous stage's result). Default: the ``--init`` run's
    prompt when it has one, else the empty prompt."""
    prior: PriorSpec = BundledPriorSpec()
    stage: StageConfig = StageConfig()
    """The first (coarse) stage."""
    refine: choice(StageConfig, type(None)) = None  # type: ignore[valid-type]
    """An optional second stage started from the first one's result (e.g. a mesh refine)."""
    init: Path | None = None
    """Seed the first stage from an asset: a splat .ply (stage.scene:gaussians), a mesh (stage.scene:mesh),
    or a run folder of ``lift3d reconstruct``/``generate`` (its export/). See lift3d/pipelines/init_scene.py."""
    init_axes: SplatAxes = "z_up"
    """Axes of an --init splat file: z_up for lift3d run exports, y_down for 3DGS files from other tools."""
    init_sample: choice(SampleReconstruct, type(None)) = None  # type: ignore[valid-type]
    """Start a Gaussians first stage from the best of several prior samples lifted to 3D by the feed-forward
    model (``init-sample:sample-reconstruct``; the ``instant`` preset). See lift3d/pipelines/sample_reconstruct.py."""
    seed: int = 0
    num_samples: int = 1
    """Generate this many assets (seeds seed, seed+1, ...), each in its own run folder."""
    perp_neg: choice(PerpNegConfig, type(None)) = None  # type: ignore[valid-type]
    """Perp-Neg against multi-face results (arXiv 2304.04968): ``perp-neg:perp-neg`` turns it on (SDS only;
    view-dependent prompts on), then ``--perp-neg.negative-weight -2`` etc."""
    view_dependent_prompts: bool | None = None
    """Append front/side/back/overhead view to the prompt; default: only for priors without camera input."""
    output: Path | None = None
    """Run folder (default outputs/generate/<prompt>/<timestamp>)."""
    resume: bool = False
    overwrite: bool = False
    val_every: int = 100
    checkpoint_every: int = 100
    turntable_frames: int = 24
    """Frames of the final turntable video (0: none)."""
    normalize_extent: float = 0.0
    """When > 0, end by centring the result's bounding box (of its visual hull) on the origin and scaling its
    largest side to this, e.g. 1.0 for unit-box assets; 0 (default) keeps the optimized size and position
    (lift3d/pipelines/normalize_size.py; docs/generate.md has why it is off by default)."""
    asset: AssetOptions = AssetOptions()
    """The exported mesh: face budget and baked texture size."""
    export: bool = True
    """Write the exports (mesh, splats) at the end; ``--no-export`` leaves them to ``lift3d export RUN`` later."""
    quiet: bool = False
    viewer: bool = False
    """Serve a live viewer on localhost while the run trains (step, loss, validation renders; see docs/viewer.md)."""
    viewer_host: str = "127.0.0.1"
    """Address of the live viewer; anything but loopback exposes it (with a warning)."""
    viewer_port: int = 7007
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""


def validate(cfg: GenerateConfig) -> None:
    """Reject bad input before any heavy compute."""
    prompt = cfg.prompt.strip()
    if not prompt:
        raise LiftError('the prompt is empty; pass one, e.g. lift3d generate "a red cube"')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LiftError(f"the prompt has {len(prompt)} characters; shorten it to at most {MAX_PROMPT_CHARS}")
    _validate_stages(cfg)
    if cfg.num_samples < 1:
        raise LiftError("--num-samples must be >= 1")
    if cfg.turntable_frames < 0:
        raise LiftError("--turntable-frames must be >= 0 (0 writes no turntable)")
    if cfg.normalize_extent < 0:
        raise LiftError("--normalize-extent must be >= 0 (0 keeps the optimized size)")
    if cfg.perp_neg is not None:
        bad = [type(s.guidance).__name__ for s in stages(cfg) if not isinstance(s.guidance, SDSConfig)]
        if bad:
            raise LiftError(f"--perp-neg combines with SDS guidance only, not {', '.join(bad)}; "
                            "use stage.guidance:sds or drop --perp-neg")
        if cfg.view_dependent_prompts is False:
            raise LiftError("--perp-neg needs view-dependent prompts; drop --no-view-dependent-prompts")
    if cfg.init is not None:
        from lift3d.pipelines.init_scene import init_file

        if cfg.init_sample is not None:
            raise LiftError("--init and init-sample:sample-reconstruct both seed the first stage; pass one of them")
        init_file(cfg.init, cfg.stage.scene)
    if cfg.init_sample is not None:
        if not isinstance(cfg.stage.scene, GaussianScene):
            raise LiftError(f"init-sample:sample-reconstruct seeds a Gaussians stage, not "
                            f"{type(cfg.stage.scene).__name__}; add stage.scene:gaussians")
        if cfg.init_sample.candidates < 1 or cfg.init_sample.score_views < 1 or cfg.init_sample.ddim_steps < 1:
            raise LiftError("--init-sample.candidates, --init-sample.score-views and --init-sample.ddim-steps "
                            "must be >= 1")
        sample = cfg.init_sample
        if sample.consensus < 1:
            raise LiftError(f"--init-sample.consensus must be >= 1 (1: the chosen lift alone), got {sample.consensus}")
        if min(sample.normalize_extent, sample.consensus_weight, sample.reference_weight) < 0:
            raise LiftError("--init-sample.normalize-extent, --init-sample.consensus-weight and "
                            "--init-sample.reference-weight must be >= 0 (0 turns each off)")
        if sample.reference_weight > 0 and sample.normalize_extent > 0:
            raise LiftError("--init-sample.reference-weight needs --init-sample.normalize-extent 0: the reference "
                            "image shows the lift at the model's own size and place")


def _validate_stages(cfg: GenerateConfig) -> None:
    """Each stage's sizes, its scene's start, and what its prior needs of the views."""
    group = views_per_sample(cfg.prior)
    for name, s in zip(("stage", "refine"), stages(cfg)):
        if s.steps < 1 or s.views_per_step < 1 or s.resolution < 8:
            raise LiftError(f"need --{name}.steps >= 1, --{name}.views-per-step >= 1 and --{name}.resolution >= 8")
        if s.views_per_step % group:
            raise LiftError(f"prior:{cfg.prior.KIND} denoises the {group} views of one object together: "
                            f"--{name}.views-per-step {s.views_per_step} is not a multiple of {group}; "
                            f"use {group} or {2 * group}")
    if isinstance(cfg.stage.scene, MeshScene) and cfg.init is None:
        raise LiftError("a mesh first stage needs a mesh to start from: pass --init MESH.glb, or put the mesh in a "
                        "refine stage after a coarse one (refine:stage refine.scene:mesh)")
    if cfg.refine is not None:
        why = cfg.refine.scene.refines(cfg.stage.scene)
        if why is not None:
            raise LiftError(f"refine.scene:{cfg.refine.scene.KIND} after stage.scene:{cfg.stage.scene.KIND}: {why}")
    if cfg.viewer:
        from lift3d.viewer.server import check_address

        try:
            check_address(cfg.viewer_host, cfg.viewer_port)
        except LiftError as e:
            raise LiftError(f"--viewer-host {cfg.viewer_host} --viewer-port {cfg.viewer_port}: {e}") from None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LiftError("--device cuda requested but CUDA is not available; use --device cpu")
    return torch.device(name)


def _slug(prompt: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in prompt.lower()).strip("_")[:60] or "prompt"


def generate(cfg: GenerateConfig) -> list[Path]:
    """Run text-to-3D; returns the run folders (one per sample)."""
    validate(cfg)
    if cfg.num_samples == 1:
        return [generate_one(cfg)]
    return [generate_one(replace(cfg, seed=cfg.seed + i,
                                 output=None if cfg.output is None else cfg.output / f"seed{cfg.seed + i}"))
            for i in range(cfg.num_samples)]


def generate_one(cfg: GenerateConfig) -> Path:
    """One asset: build, optimize each stage (resuming if asked), render validation/turntable, export.

    The run folder is located (and checked) first but created only once the prior has loaded, so a run that
    cannot start leaves nothing behind and ``--overwrite`` deletes nothing."""
    from lift3d.pipelines.outputs import finish_run
    from lift3d.runs import RunDir, deterministic_ops

    validate(cfg)
    device = _device(cfg.device)
    path = RunDir.locate(cfg.output, name=f"generate/{_slug(cfg.prompt)}", resume=cfg.resume, overwrite=cfg.overwrite)
    prior = cfg.prior.build(device)
    for stage in stages(cfg):
        if isinstance(stage.guidance, RewardConfig):
            stage.guidance.check_models(isinstance(cfg.prior, BundledPriorSpec))
    run = RunDir.create(path, resume=cfg.resume, overwrite=cfg.overwrite)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    found = run.latest()
    if found is None:
        run.write_metadata(cfg, seed=cfg.seed)
        stage_index, step, state = 0, 0, None
    else:
        global_step, state = found
        stage_index, step = state["stage"], state["step"]
        gen.set_state(state["rng"])
        run.rewind_metrics(global_step)
    live, viewer = (None, None)
    if cfg.viewer:
        from lift3d.viewer.live import start_live_viewer

        live, viewer = start_live_viewer(run.path, cfg.viewer_host, cfg.viewer_port)
    initial, terms = _sample_init(cfg, prior, state, device, run.path / "media")
    rig = None
    with deterministic_ops(device):
        for index, stage in enumerate(stages(cfg)):
            if index < stage_index:
                continue
            resumed = state if index == stage_index else None
            rig = build_rig(stage, index, rig, cfg, device, resumed, None if initial is None else initial.scene)
            guidance = build_guidance(stage, prior, cfg)
            if resumed is not None:
                guidance.load_resume_state(resumed["guidance"])
            else:
                step = 0
            prompts = stage_prompts(cfg, stage, prior)
            source = stage_source(cfg, stage, index, rig, prior, device, resumed)
            run_stage(cfg, index, stage, rig, guidance, prompts, run, gen, step, live, terms, source)
            state = None
            if guidance.adapts_prior:  # VSD's LoRA lives in the prior: the next stage gets a clean prior
                del guidance
                prior = cfg.prior.build(device)
        finish_run(rig, run, stages(cfg)[-1], cfg.turntable_frames, cfg.asset if cfg.export else None)
    if viewer is not None:
        viewer.close()
    return run.path


def _sample_init(cfg: GenerateConfig, prior, state: dict | None, device: torch.device, media: Path):
    """``(initial, terms)`` of an ``--init-sample`` run: the chosen lift (fresh runs only) and its terms."""
    if cfg.init_sample is None:
        return None, None
    from lift3d.pipelines.sample_terms import SampleTerms

    initial = None
    if state is None:
        from lift3d.pipelines.sample_reconstruct import sample_and_reconstruct

        initial = sample_and_reconstruct(prior, cfg.prompt.strip(), cfg.init_sample,
                                         torch.Generator().manual_seed(cfg.seed), device, media)
        terms = initial.terms(cfg.init_sample)
    else:
        terms = SampleTerms.from_state(state, cfg.init_sample, device)
    return initial, (terms if terms.active else None)


def build_guidance(stage: StageConfig, prior, cfg: GenerateConfig):
    """The stage's guidance on ``prior``; a CLIP reward scores against the prompt."""
    if isinstance(stage.guidance, RewardConfig):
        return stage.guidance.build(prior, prompt=cfg.prompt.strip())
    return stage.guidance.build(prior)


def negative_prompt(cfg: GenerateConfig, stage: StageConfig) -> str | None:
    """``--negative-prompt``, else NFSD's documented default for a stage whose guidance needs one (NFSD, CSD
    with a negative scale), else None."""
    if cfg.negative_prompt:
        return cfg.negative_prompt
    return NFSD_NEGATIVE_PROMPT if Branch.NEGATIVE in stage.guidance.needs() else None


def stage_prompts(cfg: GenerateConfig, stage: StageConfig, prior):
    """The stage's prompt embeddings (prompt, empty prompt, negative, view prompts)."""
    from lift3d.priors.prompts import PromptEmbeddings

    view_dep = (not cfg.prior.camera_conditioned) if cfg.view_dependent_prompts is None else cfg.view_dependent_prompts
    view_dep = view_dep or cfg.perp_neg is not None
    return PromptEmbeddings.encode(cfg.prior.text_encoder(prior), cfg.prompt.strip(), negative_prompt(cfg, stage),
                                   view_dependent=view_dep)


def source_prompt(cfg: GenerateConfig) -> str:
    """DDS's source prompt: ``--source-prompt``, else the prompt of the ``--init`` run, else the empty prompt."""
    if cfg.source_prompt is not None:
        return cfg.source_prompt.strip()
    if cfg.init is not None and (cfg.init / "config.json").is_file():
        import json

        try:
            return str(json.loads((cfg.init / "config.json").read_text()).get("prompt", "")).strip()
        except (OSError, ValueError, AttributeError):
            return ""
    return ""


def stage_source(cfg: GenerateConfig, stage: StageConfig, index: int, rig, prior, device: torch.device,
                 resumed: dict | None):
    """The frozen source of a stage whose guidance compares with one (DDS), else None."""
    if Branch.SOURCE not in stage.guidance.needs():
        return None
    from lift3d.pipelines.source_renders import SourceRenders

    embedding = cfg.prior.text_encoder(prior)([source_prompt(cfg)])
    saved = None if resumed is None else resumed.get("source")

    def rebuild(snapshot: dict):
        return build_rig(stage, index, None, cfg, device, {"rig": snapshot, "step": 0})

    return SourceRenders.capture(rig, rebuild, embedding, saved)


def stages(cfg: GenerateConfig) -> list[StageConfig]:
    return [cfg.stage] + ([cfg.refine] if cfg.refine is not None else [])


def _global_step(cfg: GenerateConfig, stage_index: int, step: int) -> int:
    return sum(s.steps for s in stages(cfg)[:stage_index]) + step


def build_rig(stage: StageConfig, index: int, previous, cfg: GenerateConfig, device: torch.device, state,
              initial: Gaussians | None = None):
    """The stage's rig: from its checkpoint state, from ``--init`` or ``initial`` (the first stage's Gaussians
    from ``--init-sample``), from the previous stage's surface, or fresh. A state saved
    at the stage's last step with a size normalization (``normalize``, stored next to the optimized scene) comes
    back normalized; one a longer run continues from comes back as optimized."""
    from lift3d.pipelines.normalize_size import apply_move

    scene = stage.scene
    if state is not None:
        if isinstance(scene, MeshScene):
            rig = scene.build_from_state(state["rig"], device)
        else:
            rig = scene.build(torch.Generator().manual_seed(cfg.seed + 7919 + index), device, cfg.prior.fixed_light)
            rig.load_state(state["rig"])
        if "normalize" in state and state["step"] >= stage.steps:
            apply_move(rig, state["normalize"])
        return rig
    if index == 0 and cfg.init is not None:
        from lift3d.pipelines.init_scene import build_initial_rig

        return build_initial_rig(scene, cfg.init, cfg.init_axes, device)
    if index == 0 and initial is not None:
        return GaussianRig(scene, initial.to(device))
    generator = torch.Generator().manual_seed(cfg.seed + 7919 + index)
    if previous is not None:
        return scene.build_from_previous(previous, generator, device, cfg.prior.fixed_light)
    return scene.build(generator, device, cfg.prior.fixed_light)


def run_stage(cfg: GenerateConfig, index: int, stage: StageConfig, rig, guidance, prompts, run, gen: torch.Generator,
              step: int, live=None, terms: SampleTerms | None = None, source: SourceRenders | None = None) -> None:
    """The optimization loop of one stage, from ``step`` to ``stage.steps``; ``live`` (a
    :class:`lift3d.viewer.live.LiveState`) is told the step, loss and rig after every step; ``terms`` (of an
    ``--init-sample`` run: reference view, consensus silhouettes) add their losses and are saved with the
    checkpoints; ``source`` (DDS) renders the stage's frozen starting scene from the same cameras."""
    from lift3d.pipelines.normalize_size import apply_move
    from lift3d.pipelines.outputs import save_validation
    from lift3d.progress import progress_bar

    device = rig.scene_device
    offset = _global_step(cfg, index, 0)
    name = f"generate {cfg.prompt!r}" + (f" (stage {index + 1})" if cfg.refine is not None else "")
    clip = None if stage.clip is None else stage.clip.build(cfg.prompt.strip(), device)
    with progress_bar(name, stage.steps, completed=step, quiet=cfg.quiet) as bar:
        while step < stage.steps:
            rig.before_step(step, gen)
            cams = stage.sampler.sample(stage.views_per_step, stage.resolution, step=step, generator=gen,
                                        group=views_per_sample(cfg.prior)).to(device)
            before_render = gen.get_state()
            out = rig.render(cams, stage.background, gen, step)
            extra = {} if source is None else source.conditions(cams, stage.background, before_render)
            g_out = guidance(out.rgb, prompts.conditions(cams, perp_neg=cfg.perp_neg, **extra), cams, step=step,
                             max_steps=stage.steps, generator=gen)
            reg = rig.regularize(out)
            if clip is not None:
                reg["clip"] = clip(out.rgb)
            if terms is not None:
                reg.update(terms.losses(rig, out.alpha, cams, index))
            loss = g_out.loss + sum(reg.values())
            rig.zero_grad()
            rig.before_backward(step, out)
            loss.backward()
            rig.step(step, out, cams)
            logs = guidance.update(step)
            step += 1
            metrics = {"loss": loss.item(), "guidance": g_out.loss.item(), **{k: v.item() for k, v in reg.items()},
                       **logs}
            move = None
            if step == stage.steps and index == len(stages(cfg)) - 1 and cfg.normalize_extent > 0:
                move = final_move(rig, cfg.normalize_extent)
                if move is not None:
                    metrics.update(normalize_factor=float(move[3]),
                                   **{f"normalize_centre_{a}": float(c) for a, c in zip("xyz", move[:3])})
            run.log_metrics(offset + step, **metrics)
            bar.update(1, loss=metrics["loss"])
            if live is not None:
                live.publish(index, offset + step, metrics["loss"], rig)
            if step % cfg.checkpoint_every == 0 or step == stage.steps:
                # the optimized scene is saved as optimized (a longer resumed run continues it exactly); the
                # final size normalization travels next to it and is applied on loading
                run.save(offset + step, {"stage": index, "step": step, "rig": rig.state(),
                                         "guidance": guidance.resume_state(), "rng": gen.get_state(),
                                         **({} if move is None else {"normalize": move}),
                                         **({} if terms is None else terms.state()),
                                         **({} if source is None else source.state())})
            if move is not None:
                apply_move(rig, move)
            if step % cfg.val_every == 0 or step == stage.steps:
                save_validation(rig, run, offset + step, stage)


def final_move(rig, extent: float) -> torch.Tensor | None:
    """The size normalization of the final scene (lift3d/pipelines/normalize_size.py), or None with a warning
    when the scene is invisible from every view."""
    from lift3d.pipelines.normalize_size import size_move

    move = size_move(rig, extent)
    if move is None:
        print("warning: the result is invisible from every view; its size was not normalized", file=sys.stderr)
    return move


def main(argv: list[str], prog: str = "lift3d generate") -> None:
    """CLI: ``lift3d generate [--preset NAME] "prompt" [options]``; options may follow subcommand selectors."""
    import tyro

    from lift3d.errors import parse_args
    from lift3d.pipelines.presets import PRESETS

    argv = [part for a in argv for part in (a.split("=", 1) if a.startswith("--preset=") else [a])]  # --preset=X too
    preset = "default"
    if "--preset" in argv:
        i = argv.index("--preset")
        if i + 1 >= len(argv):
            raise LiftError(f"--preset needs a name: one of {', '.join(PRESETS)}")
        preset = argv[i + 1]
        del argv[i:i + 2]
    if preset not in PRESETS:
        raise LiftError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    description = f"Text-to-3D (preset {preset!r}; presets: {', '.join(PRESETS)})."
    cfg = parse_args(Annotated[GenerateConfig, tyro.conf.arg()], _positional_prompt(argv), prog,
                     default=PRESETS[preset], description=description)
    for path in generate(cfg):
        print(f"run: {path}", file=sys.stderr)


def _positional_prompt(argv: list[str]) -> list[str]:
    """Let the prompt be given positionally: first, or after subcommand selectors (``prior:bundled "a chair"``)."""
    from lift3d.errors import with_positional

    return with_positional(argv, "--prompt")


__all__ = ["GenerateConfig", "StageConfig", "generate", "main"]
