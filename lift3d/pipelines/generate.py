"""``lift3d generate "prompt"``: text-to-3D by score distillation (DreamFusion, arXiv 2209.14988, and its
descendants through the guidance choice).

A run is its config (:mod:`lift3d.pipelines.generate_config`) composed of typed parts: an init
(:mod:`lift3d.pipelines.inits`) gives the first stage's rig and its terms, each stage runs the one loop
(:func:`lift3d.pipelines.optimize.optimize`) with its rig (:mod:`lift3d.rigs`), guidance and terms
(:mod:`lift3d.pipelines.terms`), and callbacks (:mod:`lift3d.pipelines.callbacks`) log, checkpoint atomically and
validate. Resume is exact: the state comes from the objects that own it (rig, guidance, terms, generator).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import torch

from lift3d.guidance import RewardConfig, SDSConfig
from lift3d.guidance.nfsd import NFSD_NEGATIVE_PROMPT
from lift3d.pipelines.generate_config import GenerateConfig, StageConfig, checked_prompt, global_step, stages
from lift3d.pipelines.inits import InitContext, Start
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.priors.base import Branch, views_per_sample
from lift3d.types import LiftError


def validate(cfg: GenerateConfig) -> None:
    """Reject bad input, and combinations that cannot work, before any compute (one line each)."""
    checked_prompt(cfg.prompt, 'the prompt is empty; pass one, e.g. lift3d generate "a red cube"')
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
    validate_stages(cfg)
    cfg.init.check(cfg.stage.scene)
    if cfg.viewer:
        from lift3d.viewer.server import check_address

        try:
            check_address(cfg.viewer_host, cfg.viewer_port)
        except LiftError as e:
            raise LiftError(f"--viewer-host {cfg.viewer_host} --viewer-port {cfg.viewer_port}: {e}") from None


def validate_stages(cfg: GenerateConfig) -> None:
    """Each stage's sizes, whether its scene can refine the one before, and what its prior needs of the views."""
    group = views_per_sample(cfg.prior)
    for name, s in zip(("stage", "refine"), stages(cfg)):
        if s.steps < 1 or s.views_per_step < 1 or s.resolution < 8:
            raise LiftError(f"need --{name}.steps >= 1, --{name}.views-per-step >= 1 and --{name}.resolution >= 8")
        if s.views_per_step % group:
            raise LiftError(f"prior:{cfg.prior.KIND} denoises the {group} views of one object together: "
                            f"--{name}.views-per-step {s.views_per_step} is not a multiple of {group}; "
                            f"use {group} or {2 * group}")
    if cfg.refine is not None:
        why = cfg.refine.scene.refines(cfg.stage.scene)
        if why is not None:
            raise LiftError(f"refine.scene:{cfg.refine.scene.KIND} after stage.scene:{cfg.stage.scene.KIND}: {why}")


def generate(cfg: GenerateConfig) -> list[Path]:
    """Run text-to-3D; returns the run folders (one per sample)."""
    validate(cfg)
    if cfg.num_samples == 1:
        return [generate_one(cfg)]
    return [generate_one(replace(cfg, seed=cfg.seed + i,
                                 output=None if cfg.output is None else cfg.output / f"seed{cfg.seed + i}"))
            for i in range(cfg.num_samples)]


def _slug(prompt: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in prompt.lower()).strip("_")[:60] or "prompt"


@dataclass
class Session:
    """One run in progress: its folder, prior, step generator, where it resumes, and its live viewer."""

    cfg: GenerateConfig
    run: Any
    prior: Any
    device: torch.device
    generator: torch.Generator
    stage_index: int = 0
    step: int = 0
    state: dict[str, Any] | None = None
    live: Any = None


def generate_one(cfg: GenerateConfig) -> Path:
    """One asset: open the run (the folder is located and checked first but created only once the prior has
    loaded, so a run that cannot start leaves nothing behind), start or resume, run each stage, export."""
    from lift3d.devices import resolve_device
    from lift3d.pipelines.outputs import finish_run
    from lift3d.runs import RunDir, deterministic_ops

    validate(cfg)
    device = resolve_device(cfg.device)
    path = RunDir.locate(cfg.output, name=f"generate/{_slug(cfg.prompt)}", resume=cfg.resume, overwrite=cfg.overwrite)
    prior = cfg.prior.build(device)
    for stage in stages(cfg):
        if isinstance(stage.guidance, RewardConfig):
            stage.guidance.check_models(isinstance(cfg.prior, BundledPriorSpec))
    s = open_session(cfg, RunDir.create(path, resume=cfg.resume, overwrite=cfg.overwrite), prior, device)
    viewer = None
    if cfg.viewer:
        from lift3d.viewer.live import start_live_viewer

        s.live, viewer = start_live_viewer(s.run.path, cfg.viewer_host, cfg.viewer_port)
    ctx = InitContext(cfg.prompt.strip(), prior, cfg.prior, cfg.stage.scene, cfg.seed, device, s.run.path / "media")
    start = cfg.init.start(ctx) if s.state is None else cfg.init.restore(ctx, _saved_terms(s.state))
    rig = None
    with deterministic_ops(device):
        for index, stage in enumerate(stages(cfg)):
            if index >= s.stage_index:
                rig = run_stage(s, index, stage, rig, start)
        finish_run(rig, s.run, stages(cfg)[-1], cfg.turntable_frames, cfg.asset if cfg.export else None)
    if viewer is not None:
        viewer.close()
    return s.run.path


def open_session(cfg: GenerateConfig, run: Any, prior: Any, device: torch.device) -> Session:
    """A fresh run (metadata written) or the state of its newest valid checkpoint (metrics after it dropped)."""
    torch.manual_seed(cfg.seed)
    s = Session(cfg, run, prior, device, torch.Generator(device="cpu").manual_seed(cfg.seed))
    found = run.latest()
    if found is None:
        run.write_metadata(cfg, seed=cfg.seed)
        return s
    done, s.state = found
    s.stage_index, s.step = s.state["stage"], s.state["step"]
    s.generator.set_state(s.state["rng"])
    run.rewind_metrics(done)
    return s


def _saved_terms(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's terms (checkpoints of earlier releases kept them under top-level keys)."""
    if "terms" in state:
        return state["terms"]
    old = {"reference": {"reference": state.get("reference")}, "consensus": {"lifts": state.get("consensus")}}
    return {k: v for k, v in old.items() if next(iter(v.values())) is not None}


def run_stage(s: Session, index: int, stage: StageConfig, previous: Any, start: Start) -> Any:
    """Build the stage's rig, guidance and terms (from its checkpoint when it is the one resumed), run the loop,
    and hand back the rig; a guidance that adapted the prior (VSD's LoRA) leaves a fresh prior for the next."""
    from lift3d.pipelines.callbacks import Checkpoints, FinalSize, LiveView, MetricsLog, Progress, Validation
    from lift3d.pipelines.optimize import Guided, Views, optimize
    from lift3d.progress import progress_bar

    cfg, resumed = s.cfg, (s.state if index == s.stage_index else None)
    rig = build_rig(s, index, stage, previous, start, resumed)
    guidance = build_guidance(stage, s.prior, cfg)
    if resumed is not None:
        guidance.load_resume_state(resumed["guidance"])
    step = s.step if resumed is not None else 0
    terms = stage_terms(s, index, stage, rig, start, resumed)
    views = Views(stage.sampler, stage.views_per_step, stage.resolution, stage.background, views_per_sample(cfg.prior))
    guided = Guided(guidance, stage_prompts(cfg, stage, s.prior), perp_neg=cfg.perp_neg)
    offset, last = global_step(cfg, index, 0), index == len(stages(cfg)) - 1
    size = FinalSize(cfg.normalize_extent if last else 0.0)

    def gather(step_: Any) -> dict[str, Any]:
        from lift3d.pipelines.terms import terms_state

        return {"stage": index, "step": step_.step, "rig": rig.state(), "guidance": guidance.resume_state(),
                "rng": s.generator.get_state(), **size.state(), "terms": terms_state(terms)}

    name = f"generate {cfg.prompt!r}" + (f" (stage {index + 1})" if cfg.refine is not None else "")
    with progress_bar(name, stage.steps, completed=step, quiet=cfg.quiet) as bar:
        callbacks = [*([size] if size.extent > 0 else []), MetricsLog(s.run, offset), Progress(bar),
                     *([LiveView(s.live, index, offset)] if s.live is not None else []),
                     Checkpoints(s.run, offset, cfg.checkpoint_every, gather), size.apply,
                     Validation(s.run, offset, cfg.val_every, stage)]
        optimize(rig, guided, views, terms, s.generator, step, stage.steps, callbacks)
    if guidance.adapts_prior:
        del guidance, guided
        s.prior = cfg.prior.build(s.device)
    return rig


def build_rig(s: Session, index: int, stage: StageConfig, previous: Any, start: Start, resumed: dict | None) -> Any:
    """The stage's rig: from its checkpoint, from the init (first stage), or from the previous stage's result."""
    from lift3d.pipelines.load import rig_from_state

    if resumed is not None:
        return rig_from_state(s.cfg, resumed, s.device)
    if index == 0:
        return start.rig
    generator = torch.Generator().manual_seed(s.cfg.seed + 7919 + index)
    return stage.scene.build_from_previous(previous, generator, s.device, s.cfg.prior.light)


def stage_terms(s: Session, index: int, stage: StageConfig, rig: Any, start: Start, resumed: dict | None) -> list:
    """The stage's terms: the CLIP loss, the init's terms, and DDS's source."""
    from lift3d.pipelines.terms.clip import ClipTerm

    terms: list = [] if stage.clip is None else [ClipTerm(stage.clip.build(s.cfg.prompt.strip(), s.device))]
    terms += start.terms(index)
    if Branch.SOURCE in stage.guidance.needs():
        terms.append(source_term(s, index, stage, rig, resumed))
    return terms


def build_guidance(stage: StageConfig, prior: Any, cfg: GenerateConfig) -> Any:
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


def stage_prompts(cfg: GenerateConfig, stage: StageConfig, prior: Any) -> Any:
    """The stage's prompt embeddings (prompt, empty prompt, negative, view prompts)."""
    from lift3d.priors.prompts import PromptEmbeddings

    return PromptEmbeddings.encode(cfg.prior.text_encoder(prior), cfg.prompt.strip(), negative_prompt(cfg, stage),
                                   view_dependent=view_dependent(cfg))


def view_dependent(cfg: GenerateConfig) -> bool:
    """Whether prompts get per-camera view suffixes: ``--view-dependent-prompts``, else when the prior takes no
    camera; always with Perp-Neg."""
    view_dep = (not cfg.prior.camera_conditioned) if cfg.view_dependent_prompts is None else cfg.view_dependent_prompts
    return view_dep or cfg.perp_neg is not None


def source_prompt(cfg: GenerateConfig) -> str:
    """DDS's source prompt: ``--source-prompt``, else what the init knows its scene shows, else the empty prompt."""
    if cfg.source_prompt is not None:
        return cfg.source_prompt.strip()
    return cfg.init.source_prompt() or ""


def source_term(s: Session, index: int, stage: StageConfig, rig: Any, resumed: dict | None) -> Any:
    """DDS's source: the stage's starting scene, frozen (from the checkpoint when resumed), and the source prompt
    encoded as the stage's prompt is (view-suffixed per camera when that one is)."""
    from lift3d.pipelines.load import rig_from_state
    from lift3d.pipelines.terms.source import SourceTerm
    from lift3d.priors.prompts import PromptEmbeddings

    prompts = PromptEmbeddings.encode(s.cfg.prior.text_encoder(s.prior), source_prompt(s.cfg),
                                      view_dependent=view_dependent(s.cfg))
    saved = None if resumed is None else _saved_terms(resumed).get("source")

    def rebuild(snapshot: dict) -> Any:
        return rig_from_state(s.cfg, {"stage": index, "step": 0, "rig": snapshot}, s.device)

    return SourceTerm.capture(rig, rebuild, prompts, saved)


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


__all__ = ["GenerateConfig", "StageConfig", "build_guidance", "generate", "main", "stages", "validate"]
