"""The configuration of ``lift3d generate``: :class:`GenerateConfig` and its stages. ``GenerateConfig()`` is what
``lift3d generate "prompt"`` runs (the ``instant`` preset); :mod:`lift3d.pipelines.presets` names the others.

Kept apart from :mod:`lift3d.pipelines.generate` so that readers of runs (the viewer, ``lift3d export``) load a
run's config without importing the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lift3d.config import choice
from lift3d.export.asset import AssetOptions
from lift3d.guidance import GuidanceConfig, SDSConfig, TimestepSchedule
from lift3d.guidance.clip_loss import ClipLossConfig
from lift3d.pipelines.inits import InitConfig, SampleReconstruct
from lift3d.pipelines.prior_specs import BundledPriorSpec, PriorSpec
from lift3d.priors.perp_neg import PerpNegConfig
from lift3d.rigs import FieldScene, GaussianScene, MeshScene, SceneConfig
from lift3d.sampling import OrbitSampler, Range
from lift3d.types import LiftError

MAX_PROMPT_CHARS = 300


def checked_prompt(prompt: str, empty: str) -> str:
    """``prompt`` stripped; refused with the line ``empty`` (which says how to pass one) when it is empty, and with
    the limit when it is longer than :data:`MAX_PROMPT_CHARS`."""
    prompt = prompt.strip()
    if not prompt:
        raise LiftError(empty)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LiftError(f"the prompt has {len(prompt)} characters; shorten it to at most {MAX_PROMPT_CHARS}")
    return prompt


@dataclass(frozen=True)
class StageConfig:
    """One optimization stage."""

    scene: SceneConfig = FieldScene()  # type: ignore[valid-type]
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


COARSE = StageConfig()
"""DreamFusion's stage: density grid + SDS, 400 steps at 32 px."""
MESH_REFINE = StageConfig(scene=MeshScene(), steps=150, resolution=32,
                          guidance=SDSConfig(guidance_scale=10.0, timesteps=TimestepSchedule(0.02, 0.5)))
"""Magic3D's second stage: the extracted mesh refined by SDS at t <= 0.5."""
INSTANT_STAGE = replace(COARSE, scene=GaussianScene(), steps=90)
INSTANT_REFINE = replace(MESH_REFINE, steps=60, scene=MeshScene(lr_vertices=1e-3))


@dataclass(frozen=True)
class GenerateConfig:
    """Text-to-3D: optimize a scene so its renders look like the prompt to a diffusion prior. The defaults are the
    ``instant`` preset (the best of 8 prior samples lifted to Gaussians, SDS on them, a mesh refine)."""

    prompt: str = ""
    """What to generate, e.g. "a red cube"."""
    negative_prompt: str = ""
    """What to avoid (used as CFG's unconditional branch by guidances that support it). Empty: none, except for
    guidances that need one (NFSD, CSD with a negative scale), which get NFSD's paper prompt
    (``lift3d.guidance.nfsd.NFSD_NEGATIVE_PROMPT``)."""
    source_prompt: str | None = None
    """What the source shows, for DDS (``stage.guidance:dds``), whose source is the scene each stage starts from
    (the initial scene, the ``init:file`` asset or the previous stage's result). Default: the ``init:file`` run's
    prompt when it has one, else the empty prompt."""
    prior: PriorSpec = BundledPriorSpec()
    stage: StageConfig = INSTANT_STAGE
    """The first stage."""
    refine: choice(StageConfig, type(None)) = INSTANT_REFINE  # type: ignore[valid-type]
    """An optional second stage started from the first one's result (e.g. a mesh refine); ``refine:none``: none."""
    init: InitConfig = SampleReconstruct()  # type: ignore[valid-type]
    """How the first stage starts: ``init:sample-reconstruct`` (prior samples lifted by the feed-forward model),
    ``init:random`` (the scene's own initialization) or ``init:file --init.path PATH`` (a splat file, mesh or run
    folder); lift3d/pipelines/inits/."""
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
    """Address of the live viewer; anything but loopback exposes it (with a warning and a token)."""
    viewer_port: int = 7007
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""

    @staticmethod
    def migrate_dict(data: dict[str, Any]) -> dict[str, Any]:
        """A saved config of an earlier lift3d in today's layout: ``init`` (a path), ``init_axes`` and
        ``init_sample`` became one ``init`` choice."""
        if "init_sample" not in data and "init_axes" not in data:
            return data
        data = dict(data)
        sample, path, axes = data.pop("init_sample", None), data.pop("init", None), data.pop("init_axes", "z_up")
        if sample is not None:
            data["init"] = {**sample, "_kind": "sample-reconstruct"}
        elif path:
            data["init"] = {"_kind": "file", "path": path, "axes": axes}
        else:
            data["init"] = {"_kind": "random"}
        return data


def stages(cfg: GenerateConfig) -> list[StageConfig]:
    return [cfg.stage] + ([cfg.refine] if cfg.refine is not None else [])


def global_step(cfg: GenerateConfig, stage_index: int, step: int) -> int:
    return sum(s.steps for s in stages(cfg)[:stage_index]) + step


__all__ = ["COARSE", "INSTANT_REFINE", "INSTANT_STAGE", "MESH_REFINE", "MAX_PROMPT_CHARS", "GenerateConfig",
           "StageConfig", "global_step", "stages"]
