"""``lift3d reconstruct image.png``: image-to-3D Gaussians, three ways.

* ``feedforward``: one pass of the triplane-Gaussian model (:mod:`lift3d.recon`, TGS, arXiv 2312.09147).
* ``optimize``: Gaussians fitted to the reference view (RGB + mask MSE at the canonical input camera),
  plus, when a prior is given, score distillation on novel views (Magic123, arXiv 2306.17843;
  DreamGaussian, arXiv 2309.16653) from an image-conditioned novel-view prior conditioned on the input
  image (``prior:novel-view``, the bundled Zero123-style model by default) or a text prior with a prompt
  (``prior:bundled --prompt ...``), through :class:`~lift3d.rigs.gaussians.GaussianRig` and any
  guidance of :mod:`lift3d.guidance`. Without a prior, novel views are kept sane by an opacity-entropy
  regularizer (opt-in) and, when initialised from the model, an anchor to the initial Gaussians.
* ``feedforward+refine``: the feed-forward Gaussians initialise ``optimize``.

The run folder holds the prepared input (media/input.png) and how it was framed (input.json), metrics, a
turntable and exports (splats.ply, mesh.glb, mesh.ply), like ``lift3d generate``.

``--elevation`` (the input camera's elevation when known): the optimize modes fit the reference view, and
condition the novel-view prior, at that elevation; the feed-forward Gaussians (predicted for the canonical
camera) are rotated so the camera at that elevation sees what the canonical one saw
(:func:`lift3d.recon.inference.at_elevation`). Either way the asset comes out upright in the world.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch

from lift3d.config import choice
from lift3d.export.asset import AssetOptions
from lift3d.guidance import GuidanceConfig, SDSConfig, TimestepSchedule
from lift3d.pipelines.prior_specs import BundledPriorSpec, NovelViewPriorSpec
from lift3d.recon.camera import INPUT_ELEVATION
from lift3d.recon.inference import at_elevation, feedforward, load_model
from lift3d.rigs.base import Regularizers
from lift3d.rigs.gaussians import GaussianRig, GaussianScene
from lift3d.sampling import OrbitSampler, Range
from lift3d.scenes.gaussians import GaussianLearningRates, Gaussians
from lift3d.types import LiftError

if TYPE_CHECKING:
    from lift3d.recon.inputs import Framing

Mode = Literal["feedforward", "optimize", "feedforward+refine"]


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of the ``optimize`` stage (also the refinement of ``feedforward+refine``)."""

    steps: int = 200
    reference_weight: float = 1.0
    """MSE between the reference-view render and the input RGB."""
    mask_weight: float = 1.0
    """MSE between the reference-view alpha and the input mask."""
    guidance_weight: float = 1.0
    """Weight of the novel-view guidance loss (only with a prior)."""
    anchor_weight: float = 100.0
    """Squared distance of the means from their initial positions (feed-forward init only): keeps the
    unseen side where the model put it."""
    novel_views: int = 2
    """Novel views per step (guidance and regularizers); 0 disables them."""
    novel_resolution: int = 32
    """Side of the novel-view renders (the bundled prior's 32 px; SD-class priors resize to their own)."""
    num_points: int = 2000
    """Gaussians of the random initialisation (``optimize`` without the model)."""
    lr: GaussianLearningRates = GaussianLearningRates(means=1e-3, quats=5e-3, scales=5e-3, opacities=5e-2,
                                                      sh0=1e-2, shN=5e-4)
    regularizers: Regularizers = Regularizers(entropy=0.0)
    """Opacity terms on the novel views (per pixel, summed); e.g. ``--optimize.regularizers.entropy 0.002``
    against haze when optimizing from scratch without a prior (off by default: it did not help the
    refinement of feed-forward results, see docs/reconstruct.md)."""
    sampler: OrbitSampler = OrbitSampler(elevation=Range((-10.0, 60.0)), distance=Range((2.75, 2.75)),
                                         fov_y=Range((40.0, 40.0)))
    guidance: GuidanceConfig = SDSConfig(guidance_scale=3.0, timesteps=TimestepSchedule(0.02, (0, 0.98, 0.5, 200)))
    """Novel-view guidance; CFG 3 as is usual for Zero123 (with the bundled novel-view prior, refinement gave
    23.50 dB at CFG 3 vs 21.87 dB at CFG 10, measured with its earlier epsilon export, docs/reconstruct.md)."""


REFINE = OptimizeConfig(
    steps=100, lr=GaussianLearningRates(means=1e-3, quats=5e-3, scales=5e-3, opacities=5e-3, sh0=3e-3, shN=5e-4),
    guidance=SDSConfig(guidance_scale=3.0, timesteps=TimestepSchedule(0.02, 0.3)), guidance_weight=0.02)
"""Defaults of the refinement of ``feedforward+refine``: a good feed-forward result is only nudged (opacity and
colour learning rates 10x / 3x below ``optimize``'s, guidance at t <= 0.3 only and at weight 0.02, where the
novel-view prior keeps the unseen sides from drifting without rounding sharp shapes). Measured on 28 held-out
objects with the shipped phase-6 model (docs/reconstruct.md): 28.25 dB novel-view PSNR vs 27.32 dB feed-forward,
silhouette IoU 0.923 vs 0.913; weights 0.05 / 0.25 / 1 and no prior score lower."""


@dataclass(frozen=True)
class ReconstructConfig:
    """Image-to-3D: Gaussians (+ mesh + turntable) from one image."""

    image: Path = Path("")
    """Input image (RGBA, or RGB on a uniform background, or any image with --mask)."""
    mode: Mode = "feedforward+refine"
    mask: Path | None = None
    """Optional mask image (white = object)."""
    recenter: bool = True
    """Reframe the object canonically (off for images already seen from the canonical camera)."""
    elevation: float = INPUT_ELEVATION
    """Elevation in degrees (-80..80) of the camera the image was taken from, when known (default: the canonical
    input camera's). The optimize modes fit the reference view from it; the feed-forward Gaussians are rotated by
    (elevation - 20) about the horizontal axis perpendicular to the view so that camera sees what the model's
    canonical one saw (the asset comes out upright). See docs/reconstruct.md."""
    model: Path | None = None
    """Reconstruction model folder (default: the shipped recon-tiny)."""
    prior: choice(NovelViewPriorSpec, BundledPriorSpec, type(None)) = NovelViewPriorSpec()  # type: ignore[valid-type]
    """Diffusion prior for novel-view guidance in optimize modes: ``prior:novel-view`` (default: image-conditioned
    on the input image, the bundled model), ``prior:bundled`` (text, needs --prompt), ``prior:none``
    (reference view + regularizers only)."""
    prompt: str = ""
    """Text for a text prior (e.g. "a red cube")."""
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    """Settings of ``--mode optimize`` (from random Gaussians)."""
    refine: OptimizeConfig = REFINE
    """Settings of the refinement of ``--mode feedforward+refine``."""
    resolution: int = 64
    """Reference-view resolution of the optimize modes (and of the turntable, x2)."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    seed: int = 0
    output: Path | None = None
    """Run folder (default outputs/reconstruct/<image name>/<timestamp>)."""
    overwrite: bool = False
    turntable_frames: int = 24
    asset: AssetOptions = AssetOptions()
    """The exported mesh: face budget and baked texture size."""
    quiet: bool = False
    device: str = "auto"


def optimize_gaussians(scene: Gaussians, reference: torch.Tensor, cfg: OptimizeConfig, generator: torch.Generator,
                       anchor: bool, guidance=None, prompts=None, log=None,
                       elevation: float = INPUT_ELEVATION) -> GaussianRig:
    """Fit ``scene`` to ``reference [S, S, 4]`` (RGB over white + mask) seen from the input camera at ``elevation``
    (default canonical), on the one loop (:func:`lift3d.pipelines.optimize.optimize`): the reference-view term,
    the anchor term when ``anchor``, and novel views for the guidance and the opacity regularizers.

    Args:
        anchor: add the anchor term to the initial means. guidance, prompts: optional guidance and its
            :class:`~lift3d.priors.prompts.PromptEmbeddings`. log: optional ``(step, **metrics)`` callback.
    """
    from lift3d.pipelines.optimize import Guided, Views, optimize
    from lift3d.pipelines.terms.anchor import AnchorTerm
    from lift3d.pipelines.terms.reference import ReferenceTerm
    from lift3d.recon.camera import input_camera

    spec = GaussianScene(sh_degree=scene.max_sh_degree, densify=None, lr=cfg.lr, regularizers=cfg.regularizers)
    rig = GaussianRig(spec, scene)
    device = rig.scene_device
    terms: list = [ReferenceTerm(reference.to(device), input_camera(reference.shape[0], elevation).to(device),
                                 cfg.reference_weight, cfg.mask_weight)]
    if anchor and cfg.anchor_weight:
        terms.append(AnchorTerm(scene.means.detach().clone(), cfg.anchor_weight))
    r = cfg.regularizers
    novel = cfg.novel_views if guidance is not None or r.sparsity or r.entropy else 0
    views = Views(cfg.sampler, novel, cfg.novel_resolution)
    guided = None if guidance is None else Guided(guidance, prompts, cfg.guidance_weight)
    callbacks = [] if log is None else [lambda s: log(s.step, **s.metrics)]
    optimize(rig, guided, views, terms, generator, 0, cfg.steps, callbacks)
    return rig


def reconstruct(cfg: ReconstructConfig) -> Path:
    """Run image-to-3D; returns the run folder."""
    from lift3d.devices import resolve_device
    from lift3d.pipelines.outputs import _write_png, finish_run, image_grid
    from lift3d.recon.camera import check_elevation
    from lift3d.recon.inputs import prepare_input
    from lift3d.runs import RunDir, deterministic_ops

    check_elevation(cfg.elevation)
    if cfg.mode not in ("feedforward", "optimize", "feedforward+refine"):
        raise LiftError(f"unknown mode {cfg.mode!r}; choose feedforward, optimize or feedforward+refine")
    if isinstance(cfg.prior, BundledPriorSpec) and not cfg.prompt.strip():
        raise LiftError("a text prior needs a prompt describing the object, e.g. --prompt 'a red cube' "
                        "(or use the image-conditioned prior:novel-view)")
    if cfg.resolution < 8 or cfg.optimize.steps < 0 or cfg.refine.steps < 0:
        raise LiftError("need --resolution >= 8, --optimize.steps >= 0 and --refine.steps >= 0")
    settings = cfg.refine if cfg.mode == "feedforward+refine" else cfg.optimize
    if cfg.mode != "feedforward" and cfg.prior is not None:
        _check_guidance(cfg, settings.guidance)
    device = resolve_device(cfg.device)
    reference, framing = prepare_input(cfg.image, cfg.resolution, cfg.mask, cfg.recenter)
    path = RunDir.locate(cfg.output, name=f"reconstruct/{Path(cfg.image).stem or 'image'}", overwrite=cfg.overwrite)
    # models first: a run that cannot start leaves no folder behind and --overwrite deletes nothing
    model = None if cfg.mode == "optimize" else load_model(cfg.model, device)
    guidance = prompts = None
    if cfg.mode != "feedforward" and cfg.prior is not None:
        prior = cfg.prior.build(device)
        prompts = _prior_conditions(cfg, prior, reference.to(device))
        guidance = _build_guidance(cfg, settings.guidance, prior)
    run = RunDir.create(path, overwrite=cfg.overwrite)
    run.write_metadata(cfg, seed=cfg.seed)
    _write_png(run.media_dir / "input.png", image_grid(torch.stack([reference[..., :3], reference[..., 3:].expand(-1, -1, 3)])))
    _write_input_record(run.path / "input.json", cfg, framing)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    if model is None:
        scene = Gaussians.random_ball(cfg.optimize.num_points, 0.5, torch.Generator().manual_seed(cfg.seed + 7919),
                                      sh_degree=0, opacity=0.1).to(device)
    else:
        scene = at_elevation(feedforward(model, reference.to(device)), cfg.elevation)
    if cfg.mode == "feedforward":
        rig = GaussianRig(GaussianScene(sh_degree=0, densify=None), scene)
    else:
        with deterministic_ops(device):
            rig = optimize_gaussians(scene, reference, settings, gen, anchor=cfg.mode == "feedforward+refine",
                                     guidance=guidance, prompts=prompts, log=run.log_metrics, elevation=cfg.elevation)
    finish_run(rig, run, cfg, cfg.turntable_frames, cfg.asset)
    return run.path


def _write_input_record(path: Path, cfg: ReconstructConfig, framing: Framing) -> None:
    """``input.json``: the input, how it was framed (:class:`lift3d.recon.inputs.Framing`; the framed image is
    the left half of media/input.png, its mask the right half) and the input camera's elevation."""
    import json

    from lift3d.files import atomic_write_text

    record = {"image": str(cfg.image), "mask": None if cfg.mask is None else str(cfg.mask), **framing.to_json(),
              "framed_image": "media/input.png", "elevation": cfg.elevation}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _check_guidance(cfg: ReconstructConfig, guidance: GuidanceConfig) -> None:
    """Refuse, before any compute, a guidance that needs what this prior and config cannot give."""
    from lift3d.guidance import RewardConfig
    from lift3d.guidance.reward import RewardSource
    from lift3d.priors.base import Branch

    needs = guidance.needs()
    name = type(guidance).__name__.removesuffix("Config")
    if Branch.NEGATIVE in needs:
        raise LiftError(f"{name} needs a negative prompt, which reconstruct's priors are not given; use sds, vsd, "
                        "sjc, csd (negative scale 0) or reward")
    if Branch.SOURCE in needs:
        raise LiftError(f"{name} compares with a source scene; reconstruct has none: use sds, vsd, sjc, csd or reward "
                        "(lift3d generate --init RUN stage.guidance:dds edits a reconstruction)")
    if isinstance(guidance, RewardConfig) and guidance.reward is RewardSource.CLIP:
        if not cfg.prompt.strip():
            raise LiftError("the CLIP reward scores the renders against a prompt: pass --prompt 'a red cube', or use "
                            "the prompt-blind reward (--optimize.guidance.reward contrast)")
        guidance.check_models(isinstance(cfg.prior, BundledPriorSpec))


def _build_guidance(cfg: ReconstructConfig, guidance: GuidanceConfig, prior):
    from lift3d.guidance import RewardConfig

    if isinstance(guidance, RewardConfig):
        return guidance.build(prior, prompt=cfg.prompt.strip() or None)
    return guidance.build(prior)


def _prior_conditions(cfg: ReconstructConfig, prior, reference: torch.Tensor):
    """The guidance's condition source: the input image seen from the input camera (at ``--elevation``) for an
    image-conditioned prior, the prompt's embeddings for a text prior."""
    if isinstance(cfg.prior, NovelViewPriorSpec):
        from lift3d.pipelines.prior_specs import ReferenceConditions
        from lift3d.priors.zero123 import ReferenceView
        from lift3d.recon.camera import input_camera

        camera = input_camera(reference.shape[0], cfg.elevation)
        return ReferenceConditions(prior, reference[None], ReferenceView.from_camera(camera))
    from lift3d.priors.prompts import PromptEmbeddings

    return PromptEmbeddings.encode(cfg.prior.text_encoder(prior), cfg.prompt.strip(), None,
                                   view_dependent=not cfg.prior.camera_conditioned)


def main(argv: list[str], prog: str = "lift3d reconstruct") -> None:
    """CLI: ``lift3d reconstruct image.png [--mode feedforward|optimize|feedforward+refine] [options]``."""
    from lift3d.errors import parse_args, with_positional

    cfg = parse_args(ReconstructConfig, with_positional(argv, "--image"), prog)
    if not str(cfg.image) or str(cfg.image) == ".":
        raise LiftError("no input image; usage: lift3d reconstruct image.png")
    print(f"run: {reconstruct(cfg)}", file=sys.stderr)


__all__ = ["Mode", "OptimizeConfig", "ReconstructConfig", "feedforward", "load_model", "main", "optimize_gaussians",
           "reconstruct"]
