"""Named presets for ``lift3d generate --preset NAME``: Python instances, each a starting point that every
flag can still change. All run on the bundled prior by default (``--prior`` switches it).

* ``default`` (= ``instant``): see ``instant`` below; on the bundled prior it beats ``dreamfusion`` on every measure
  of the procedural benchmark (docs/generate.md).
* ``dreamfusion``: density grid + SDS (DreamFusion, arXiv 2209.14988; the default until the ``instant`` preset).
* ``magic3d``: hash grid + SDS, then mesh refine (Magic3D, arXiv 2211.10440).
* ``prolificdreamer``: density grid + VSD with a LoRA particle model, then mesh refine (arXiv 2305.16213).
* ``sjc``: density grid + SJC's perturb-and-average scoring (arXiv 2212.00774).
* ``gaussian``: 3D Gaussians + SDS, then mesh refine (DreamGaussian, arXiv 2309.16653).
* ``nfsd``: density grid + noise-free score distillation (arXiv 2310.17590).
* ``reward``: density grid + reward-weighted SDS (RewardSDS, arXiv 2503.09601), noises weighted by the CLIP score of
  the prompt (the bundled CLIP on the bundled prior, a real CLIP on real priors).
* ``mvdream``: hash grid + SDS from MVDream (arXiv 2308.16512; CUDA: the real model is a 2 GB SD 2.1 UNet): the
  settings of the official threestudio config (CFG 50, x0-reconstruction weighting, t annealed from 0.98 to
  [0.02, 0.5] over the run, elevations 0-30, field of view 15-60); each 4-view group shares one elevation and one
  timestep (automatic for ``prior:mvdream``).
* ``instant``: the best of 8 prior samples lifted to Gaussians by the feed-forward model, then SDS on them and a
  mesh refine (text to image to 3D, as Instant3D, arXiv 2311.06214; lift3d/pipelines/inits/sample.py), both
  held to the majority silhouettes of the top 4 lifts at unit size (lift3d/pipelines/terms/consensus.py). It is
  ``GenerateConfig()`` itself.

Every other preset starts from ``init:random`` with no refine stage unless it names one (``_SCRATCH``).
"""

from __future__ import annotations

from dataclasses import replace

from lift3d.guidance import NFSDConfig, RewardConfig, SDSConfig, SJCConfig, TimestepSchedule, VSDConfig, Weighting
from lift3d.guidance.reward import RewardSource
from lift3d.pipelines.generate_config import COARSE, MESH_REFINE, GenerateConfig, StageConfig
from lift3d.pipelines.inits import RandomInit
from lift3d.priors.mvdream import MVDreamConfig
from lift3d.rigs import BLOB, FieldScene, GaussianScene
from lift3d.sampling import OrbitSampler, Range
from lift3d.scenes.hash_grid import HashEncodingConfig, HashGridConfig

_SCRATCH = GenerateConfig(stage=COARSE, refine=None, init=RandomInit())
"""Score distillation from scratch: DreamFusion's stage, no refine, the scene's own initialization."""
_HASH = FieldScene(field=HashGridConfig(encoding=HashEncodingConfig(num_levels=8, log2_hashmap_size=15,
                                                                    base_resolution=8, max_resolution=128),
                                        hidden_dim=32, activation=BLOB), lr=0.01)

_MVDREAM_STEPS = 5000
_MVDREAM = replace(
    _SCRATCH,
    prior=MVDreamConfig(),
    stage=StageConfig(scene=_HASH, steps=_MVDREAM_STEPS, resolution=64, views_per_step=4,
                      guidance=SDSConfig(guidance_scale=50.0, weighting=Weighting.SIGMA_OVER_ALPHA,
                                         timesteps=TimestepSchedule((0, 0.98, 0.02, _MVDREAM_STEPS),
                                                                    (0, 0.98, 0.5, _MVDREAM_STEPS))),
                      sampler=OrbitSampler(elevation=Range((0.0, 30.0)), distance=Range((2.5, 3.0)),
                                           fov_y=Range((15.0, 60.0)))),
    negative_prompt="ugly, bad anatomy, blurry, pixelated obscure, unnatural colors, poor lighting, dull, unclear, "
                    "cropped, lowres, low quality, artifacts, duplicate, morbid, mutilated, poorly drawn face, "
                    "deformed, dehydrated, bad proportions",
)
"""MVDream-threestudio's mvdream-sd21 config in lift3d's terms (its 10k steps halved; 64 px renders, which its
config uses for the first 5k steps); the prior's resolution is 256, renders are resized to it."""

_INSTANT = GenerateConfig()

PRESETS: dict[str, GenerateConfig] = {
    "default": _INSTANT,
    "dreamfusion": _SCRATCH,
    "magic3d": replace(_SCRATCH, stage=replace(COARSE, scene=_HASH), refine=MESH_REFINE),
    "prolificdreamer": replace(
        _SCRATCH,
        stage=replace(COARSE, guidance=VSDConfig(guidance_scale=7.5, timesteps=TimestepSchedule(0.02, (0, 0.98, 0.5, 400)))),
        refine=replace(MESH_REFINE, guidance=VSDConfig(guidance_scale=7.5, timesteps=TimestepSchedule(0.02, 0.5)))),
    "sjc": replace(_SCRATCH, stage=replace(COARSE, guidance=SJCConfig(guidance_scale=10.0))),
    "gaussian": replace(_SCRATCH, stage=replace(COARSE, scene=GaussianScene()), refine=replace(MESH_REFINE, steps=100)),
    "nfsd": replace(_SCRATCH, stage=replace(COARSE, guidance=NFSDConfig()),
                           negative_prompt="unrealistic, blurry, low quality, out of focus, ugly, low contrast"),
    "reward": replace(_SCRATCH, stage=replace(COARSE, guidance=RewardConfig(base=SDSConfig(guidance_scale=10.0),
                                                                           num_noises=4, top_k=1,
                                                                           reward=RewardSource.CLIP))),
    "mvdream": _MVDREAM,
    "instant": _INSTANT,
}
"""Preset name -> config (a dict, as tyro's ``overridable_config_cli`` takes; names appear on the CLI)."""
