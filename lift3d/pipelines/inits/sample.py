"""Text to image to 3D: the start of ``lift3d generate init:sample-reconstruct`` (the ``instant`` preset).

Sample ``candidates`` images of the prompt from the text prior, seen from the feed-forward reconstruction model's
canonical input camera (:mod:`lift3d.recon.camera`); lift each to 3D Gaussians with that model (TGS, arXiv
2312.09147; :mod:`lift3d.recon`); render every reconstruction from ``score_views`` views around it and keep the
one the reward model (CLIP; the bundled one by default) scores highest. Generating one view with a 2D prior and
lifting it with a feed-forward model is the text-to-3D recipe of Instant3D (arXiv 2311.06214) and LGM (arXiv
2402.05054, text mode); re-ranking samples with CLIP is DALL-E's (arXiv 2102.12092, section 2.5), here applied
to whole 3D candidates, so a sample whose lift looks wrong from the side loses.

Why it helps with the bundled prior (docs/generate.md): the prior draws each shape in its iconic view from any
camera, so score distillation, which asks every view for its own sample, averages several yaws of a cube into a
round tube. One sample lifted by a model trained on whole objects is one consistent object.

The best-scored ``consensus`` lifts are then centred and scaled to the world's unit size (a prompt fixes no
absolute size), the first stage starts from the best of them, and every stage fits the per-pixel majority of their
silhouettes (:mod:`lift3d.pipelines.terms.consensus`): a prompt names a family, and the majority of several of its
samples is nearer its typical shape than any one sample.

Scores (:class:`Selection`):

* ``CONTRAST``: the mean over views of the log-probability CLIP gives the prompt against contrast prompts, the
  prompt with its shape word replaced by each other procedural family (CLIP's zero-shot classifier, arXiv
  2103.00020, section 3.1.2); a prompt that names no family falls back to ``CLIP_SCORE``;
* ``CLIP_SCORE``: the mean cosine similarity between the views and the prompt;
* ``CONTRAST_LIKELIHOOD`` (default): ``CONTRAST`` plus the text prior's own likelihood of the views, minus its
  mean denoising error on them at fixed timesteps and noises (:mod:`lift3d.priors.likelihood`, Diffusion
  Classifier, arXiv 2303.16203), each standardized over the candidates (z-scores) and summed with equal weights.
  CLIP tells which family a candidate looks like; the prior, trained on the world's objects, prefers the typical
  one of that family, whose proportions are nearest the canonical shape (a table with legs rather than a slab).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from lift3d.pipelines.inits.base import InitContext, Start
from lift3d.pipelines.terms.base import Term
from lift3d.pipelines.terms.consensus import ConsensusTerm, stack_scenes, unstack_scenes
from lift3d.pipelines.terms.reference import ReferenceTerm
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError


class Selection(str, Enum):
    """How :class:`CandidateScorer` scores a candidate (module docstring)."""

    CONTRAST_LIKELIHOOD = "contrast-likelihood"
    CONTRAST = "contrast"
    CLIP_SCORE = "clip-score"


@dataclass(frozen=True)
class SampleReconstruct:
    """Start the first stage from the best of several prior samples lifted by the feed-forward model; every stage
    is held to the majority silhouettes of the best few, at unit size (``init:sample-reconstruct``)."""

    KIND = "sample-reconstruct"

    candidates: int = 8
    """Images sampled from the prior (each lifted and scored; the best is kept)."""
    guidance_scale: float = 5.0
    """Classifier-free guidance of the image samples."""
    ddim_steps: int = 30
    model: Path | None = None
    """Feed-forward reconstruction model folder (default: the shipped lift3d/assets/recon-tiny)."""
    reward_model: str = ""
    """CLIP folder or hub id that scores the candidates (empty: the bundled reward model)."""
    selection: Selection = Selection.CONTRAST_LIKELIHOOD
    """How candidates are scored: CONTRAST_LIKELIHOOD (the CLIP contrast and the text prior's likelihood, each
    standardized over the candidates, summed), CONTRAST (the prompt against its other-family variants) or
    CLIP_SCORE (cosine)."""
    score_views: int = 8
    """Views around each candidate (elevation ``score_elevation``, azimuths evenly spaced) that are scored."""
    score_elevation: float = 25.0
    close_gaps: bool = True
    """Widen the chosen reconstruction's splats in their plane to meet their neighbours (:func:`close_gaps`)."""
    reference_weight: float = 0.0
    """Weight of a reference-view term in the first stage: RGB and mask MSE between the render from the
    reconstruction model's input camera and the chosen sample (Magic123, arXiv 2306.17843; DreamGaussian's
    image-to-3D, arXiv 2309.16653), so the guidance shapes the unseen sides while the seen one stays the
    sample's. 0 turns it off."""
    reference_resolution: int = 64
    """Resolution at which the reference view is rendered (the sample is resized to it)."""
    normalize_extent: float = 1.0
    """Centre each lift's visual-hull box and scale its largest side to this, the procedural world's canonical
    size, after scoring (lift3d/pipelines/normalize_size.py); a prompt fixes no absolute size and the samples'
    vary by +-15 %. 0 keeps the model's size."""
    consensus: int = 4
    """The best-scored lifts (at most ``candidates``) whose per-pixel majority silhouettes every stage fits
    (lift3d/pipelines/terms/consensus.py)."""
    consensus_weight: float = 1000.0
    """Weight of the consensus term, the mask MSE against the majority silhouettes from each step's cameras (at 4
    views of 32 px a fully wrong pixel's alpha gets a gradient of 2 x 1000 / 4096 = 0.5, where score distillation's
    per-pixel RMS is 0.17-0.33); 0 turns it off."""


    def check(self, scene: Any) -> None:
        """Refuse settings that cannot work, before any compute."""
        from lift3d.rigs.gaussians import GaussianScene

        if not isinstance(scene, GaussianScene):
            raise LiftError(f"init:sample-reconstruct seeds a Gaussians stage, not {type(scene).__name__}; "
                            "add stage.scene:gaussians")
        if self.candidates < 1 or self.score_views < 1 or self.ddim_steps < 1:
            raise LiftError("--init.candidates, --init.score-views and --init.ddim-steps must be >= 1")
        if self.consensus < 1:
            raise LiftError(f"--init.consensus must be >= 1 (1: the chosen lift alone), got {self.consensus}")
        if min(self.normalize_extent, self.consensus_weight, self.reference_weight) < 0:
            raise LiftError("--init.normalize-extent, --init.consensus-weight and --init.reference-weight must be "
                            ">= 0 (0 turns each off)")
        if self.reference_weight > 0 and self.normalize_extent > 0:
            raise LiftError("--init.reference-weight needs --init.normalize-extent 0: the reference image shows "
                            "the lift at the model's own size and place")

    def start(self, ctx: InitContext) -> Start:
        from lift3d.rigs.gaussians import GaussianRig

        initial = sample_and_reconstruct(ctx.prior, ctx.prompt, self, torch.Generator().manual_seed(ctx.seed),
                                         ctx.device, ctx.media, ctx.prior_spec.contrast_prompts(ctx.prompt))
        return Start(GaussianRig(ctx.scene, initial.scene.to(ctx.device)),
                     *self._terms(initial.reference if self.reference_weight > 0 else None,
                                  stack_scenes(initial.consensus) if self.consensus_weight > 0 else None))

    def restore(self, ctx: InitContext, saved_terms: dict[str, Any]) -> Start:
        reference, consensus = saved_terms.get("reference"), saved_terms.get("consensus")
        return Start(None, *self._terms(None if reference is None else reference["reference"].to(ctx.device),
                                        None if consensus is None else
                                        {k: v.to(ctx.device) for k, v in consensus["lifts"].items()}))

    def _terms(self, reference: torch.Tensor | None,
               lifts: dict[str, torch.Tensor] | None) -> tuple[list[Term], list[Term]]:
        """(first-stage terms, every-stage terms): the reference view, the consensus silhouettes."""
        from lift3d.recon.camera import input_camera

        first: list[Term] = []
        if reference is not None:
            first.append(ReferenceTerm(reference, input_camera(reference.shape[0]).to(reference.device),
                                       self.reference_weight, self.reference_weight))
        every: list[Term] = [] if lifts is None else [ConsensusTerm(lifts, self.consensus_weight)]
        return first, every

    def source_prompt(self) -> str | None:
        return None


@dataclass
class InitialSample:
    """What :func:`sample_and_reconstruct` hands the stages."""

    scene: Gaussians
    """The chosen candidate's Gaussians."""
    reference: torch.Tensor
    """``[R, R, 4]`` the chosen sample over white with its mask, at ``reference_resolution``."""
    consensus: list[Gaussians]
    """The ``consensus`` best-scored candidates, best first (copies: the first stage optimizes ``scene``)."""


def candidate_images(prior: Any, prompt: str, cfg: SampleReconstruct, generator: torch.Generator) -> torch.Tensor:
    """``[K, R, R, 3]`` DDIM samples of ``prompt`` from the reconstruction model's input camera (R: the prior's
    resolution; :func:`lift3d.pipelines.reconstruct.feedforward` resizes them to the model's)."""
    from lift3d.priors.base import Conditions
    from lift3d.priors.ddim import ddim_sample
    from lift3d.recon.camera import INPUT_AZIMUTH, INPUT_ELEVATION

    if not hasattr(prior, "camera_condition_from_angles") or getattr(prior, "vae", None) is not None:
        raise LiftError(f"init:sample-reconstruct needs a pixel-space, camera-conditioned prior (the bundled "
                        f"prior, prior:bundled), not {type(prior).__name__}; seed other priors with --init FILE")
    k = cfg.candidates
    cond = Conditions(text=prior.embed_text([prompt] * k), uncond=prior.embed_text([""]),
                      camera=prior.camera_condition_from_angles(torch.full((k,), INPUT_ELEVATION),
                                                                torch.full((k,), INPUT_AZIMUTH)))
    return ddim_sample(prior, cond, k, cfg.ddim_steps, cfg.guidance_scale, generator).clamp(0, 1)


def rgba_over_white(rgb: torch.Tensor) -> torch.Tensor:
    """``[S, S, 4]``: a sample on the prior's white background with its mask (background-colour segmentation
    of :func:`lift3d.recon.inputs.background_mask`; its darkest channel below 0.88 where that fails)."""
    import numpy as np

    from lift3d.recon.inputs import background_mask

    mask = background_mask(rgb.numpy())
    if mask is None:
        mask = (1.0 - rgb.min(-1).values).numpy() > 0.12
    m = torch.as_tensor(np.asarray(mask), dtype=rgb.dtype)[..., None]
    return torch.cat([rgb * m + (1 - m), m], -1)


class CandidateScorer:
    """Scores Gaussians by how their renders from around them match the prompt (see the module docstring)."""

    def __init__(self, prompt: str, cfg: SampleReconstruct, device: torch.device, contrast: list[str]) -> None:
        from lift3d.priors.bundled_reward import BUNDLED_REWARD_DIR, text_embeddings, tokenize
        from lift3d.priors.reward_models import load_clip
        from lift3d.renderers.gaussians import GaussianRenderer

        self.model, tokenizer = load_clip(cfg.reward_model or BUNDLED_REWARD_DIR, str(device))
        others = contrast if cfg.selection is not Selection.CLIP_SCORE else []
        with torch.no_grad():
            self.text = text_embeddings(self.model, tokenize(tokenizer, [prompt] + others).to(device))
        self.contrast = len(others) > 0
        self.cameras = score_cameras(cfg, int(self.model.config.vision_config.image_size)).to(device)
        self.renderer = GaussianRenderer()

    @torch.no_grad()
    def __call__(self, scene: Gaussians) -> float:
        from lift3d.priors.bundled_reward import image_embeddings

        images = self.renderer(scene, self.cameras, torch.ones(3, device=scene.means.device)).rgb.clamp(0, 1)
        sims = image_embeddings(self.model, images) @ self.text.T  # [views, prompts]
        if not self.contrast:
            return float(sims[:, 0].mean())
        logits = self.model.logit_scale.exp().clamp(max=100) * sims
        return float(logits.log_softmax(-1)[:, 0].mean())


def standardized_sum(*scores: list[float]) -> list[float]:
    """Per candidate, the sum of its z-scores (over the candidates) under each list of ``scores``; a list whose
    candidates all tie contributes 0."""
    total = torch.zeros(len(scores[0]), dtype=torch.float64)
    for values in scores:
        x = torch.tensor(values, dtype=torch.float64)
        spread = x.std(unbiased=False) if len(values) > 1 else torch.tensor(0.0, dtype=torch.float64)
        total += (x - x.mean()) / spread if spread > 0 else torch.zeros_like(x)
    return total.tolist()


def score_cameras(cfg: SampleReconstruct, resolution: int):
    """``cfg.score_views`` cameras around the object at ``cfg.score_elevation``, azimuths evenly spaced."""
    from lift3d.cameras import Cameras

    n = cfg.score_views
    azimuths = torch.arange(n) * 360.0 / n + 180.0 / n
    return Cameras.from_spherical(torch.full((n,), cfg.score_elevation), azimuths, 2.75, 40.0, resolution)


@torch.no_grad()
def close_gaps(scene: Gaussians) -> Gaussians:
    """Widen each splat's two larger scales to at least half the distance to its nearest neighbour (in place).

    The feed-forward model's few hundred small flat splats look closed at its 32 px training resolution, through
    the rasterizer's screen-space dilation, but at 64 px and above they show the gaps between them; score
    distillation and the evaluation's renders see those holes. Widening each disc in its plane closes the surface
    and keeps its normal thin (the mesh-extraction counterpart is
    :func:`lift3d.export.mesh_extract.gap_filling_covariances`).
    """
    from lift3d.export.mesh_extract import nearest_neighbour_distance

    if len(scene) < 2 or scene.isotropic:
        return scene
    gap = nearest_neighbour_distance(scene.means)
    log_scales = scene.params["scales"]
    wide = log_scales.argsort(-1)[:, 1:]
    floor = (gap / 2).clamp_min(1e-8).log()[:, None]
    log_scales.scatter_(1, wide, torch.maximum(log_scales.gather(1, wide), floor))
    return scene


def sample_and_reconstruct(prior: Any, prompt: str, cfg: SampleReconstruct, generator: torch.Generator,
                           device: torch.device, media: Path | None = None,
                           contrast: list[str] | None = None) -> InitialSample:
    """The best-scoring reconstruction of ``cfg.candidates`` prior samples of ``prompt``, and its sample; with
    ``media``, also writes ``init_candidates.png`` (the samples, left to right) and ``init_candidates.json``.
    ``contrast``: the prompts CONTRAST scoring weighs ``prompt`` against (the prior spec's
    ``contrast_prompts``)."""
    from lift3d.priors.likelihood import DenoisingLikelihood
    from lift3d.recon.inference import feedforward, load_model
    from lift3d.renderers.gaussians import GaussianRenderer

    model = load_model(cfg.model, device)
    images = candidate_images(prior, prompt, cfg, generator)
    scorer = CandidateScorer(prompt, cfg, device, contrast or [])
    both = cfg.selection is Selection.CONTRAST_LIKELIHOOD
    if both:
        cams = score_cameras(cfg, prior.resolution).to(device)
        likelihood = DenoisingLikelihood(prior, prior.embed_text([prompt]), cams)
        renderer = GaussianRenderer()
    scenes, clip_scores, likelihoods, rgbas = [], [], [], []
    for rgb in images:
        rgbas.append(rgba_over_white(rgb.cpu()))
        with torch.no_grad():
            scene = feedforward(model, rgbas[-1].to(device))
            scene = close_gaps(scene) if cfg.close_gaps else scene
            if both:
                likelihoods.append(likelihood(renderer(scene, cams, torch.ones(3, device=device)).rgb.clamp(0, 1)))
        scenes.append(scene)
        clip_scores.append(scorer(scene))
    scores = standardized_sum(clip_scores, likelihoods) if both else clip_scores
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = order[0]
    if media is not None:
        _write_candidates(media, images, best, cfg, scores=scores, clip=clip_scores, likelihood=likelihoods)
    size = cfg.reference_resolution
    reference = torch.nn.functional.interpolate(rgbas[best].permute(2, 0, 1)[None], size=(size, size),
                                                mode="bilinear", antialias=True)[0].permute(1, 2, 0).clamp(0, 1)
    kept = [scenes[i] for i in order[:max(1, cfg.consensus)]]
    if cfg.normalize_extent > 0:
        for scene in kept:
            normalize_lift(scene, cfg.normalize_extent)
    return InitialSample(kept[0], reference.to(device), [copy_scene(s) for s in kept])


def copy_scene(scene: Gaussians) -> Gaussians:
    """A detached copy of ``scene``'s parameters."""
    return unstack_scenes({k: v.detach().clone()[None] for k, v in scene.params.items()})[0]


@torch.no_grad()
def normalize_lift(scene: Gaussians, extent: float) -> Gaussians:
    """Centre ``scene``'s visual-hull box on the origin and scale its largest side to ``extent``, in place
    (:func:`lift3d.pipelines.normalize_size.normalize_size`); an invisible scene is left as is."""
    from lift3d.pipelines.normalize_size import normalize_size
    from lift3d.rigs.gaussians import GaussianRig, GaussianScene

    normalize_size(GaussianRig(GaussianScene(), scene), extent)
    return scene


def _write_candidates(media: Path, images: torch.Tensor, best: int, cfg: SampleReconstruct,
                      **scores: list[float]) -> None:
    from PIL import Image

    from lift3d.files import atomic_write_text
    from lift3d.pipelines.outputs import image_grid

    media.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(images.cpu(), columns=len(images))).save(media / "init_candidates.png")
    atomic_write_text(media / "init_candidates.json", json.dumps(
        {"selection": cfg.selection.value, "chosen": best,
         **{k: [float(f"{s:.7g}") for s in v] for k, v in scores.items() if v}}, indent=2) + "\n")
