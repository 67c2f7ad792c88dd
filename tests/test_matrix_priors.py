"""The combination matrix, part 3: every prior kind x every guidance on one scene (a density grid).

Text priors (tiny random Stable Diffusion, DeepFloyd IF and MVDream in their hub layouts) run through
``generate`` as a first stage and as a refine stage, killed after a checkpoint, resumed, and compared bit for
bit with an uninterrupted run (tests/matrix_support.py); MVDream renders 4-view groups. The image-conditioned
Zero123 prior guides ``reconstruct --mode optimize``: every guidance that needs only the image runs twice and
the two runs are compared bit for bit; guidances that need a negative or a source prompt are refused up front
in one line. The bundled prior is covered by tests/test_matrix_scenes.py and tests/test_matrix_refine.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from matrix_support import GUIDANCES, SCENES, STEPS, as_first_stage, as_refine_stage, base_config, check_exact
from priors_fixtures import save_clip_model, save_deepfloyd, save_mvdream, save_sd, save_zero123

from lift3d.guidance import RewardConfig
from lift3d.priors.deepfloyd import DeepFloydIFConfig
from lift3d.priors.mvdream import MVDreamConfig
from lift3d.priors.stable_diffusion import StableDiffusionConfig
from lift3d.types import LiftError

TEXT_PRIORS = {"stable-diffusion": (save_sd, StableDiffusionConfig, 2),
               "deepfloyd-if": (save_deepfloyd, DeepFloydIFConfig, 2),
               "mvdream": (save_mvdream, MVDreamConfig, 4)}
"""Prior kind -> (tiny hub-layout writer, its spec, views per step)."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("priors")
    out = {kind: save(root / kind) for kind, (save, _, _) in TEXT_PRIORS.items()}
    out["zero123"] = save_zero123(root / "zero123")
    out["clip"] = save_clip_model(root / "clip")
    return out


def _guidance(name: str, clip: Path):
    g = GUIDANCES[name]
    return replace(g, clip_model=str(clip)) if isinstance(g, RewardConfig) else g


@pytest.mark.parametrize("placement", ["first", "refine"])
@pytest.mark.parametrize("guidance", GUIDANCES)
@pytest.mark.parametrize("prior", TEXT_PRIORS)
def test_text_prior(prior: str, guidance: str, placement: str, folders: dict[str, Path], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, spec_cls, views = TEXT_PRIORS[prior]
    cfg = base_config(spec_cls(model=str(folders[prior])), tmp_path)
    g = _guidance(guidance, folders["clip"])
    if placement == "first":
        cfg = as_first_stage(cfg, SCENES["density-grid"], g, tmp_path, views=views)
        check_exact(cfg, tmp_path, monkeypatch, kill_after=STEPS - 1)
    else:
        cfg = as_refine_stage(cfg, SCENES["density-grid"], g, views=views)
        check_exact(cfg, tmp_path, monkeypatch, kill_after=1 + STEPS - 1)


def test_mvdream_refuses_views_that_split_a_group(folders: dict[str, Path], tmp_path: Path) -> None:
    from lift3d.pipelines.generate import generate

    cfg = as_first_stage(base_config(MVDreamConfig(model=str(folders["mvdream"])), tmp_path / "run"),
                         SCENES["density-grid"], GUIDANCES["sds"], tmp_path, views=6)
    with pytest.raises(LiftError, match="views-per-step 6 is not a multiple of 4"):
        generate(cfg)
    assert not (tmp_path / "run").exists()


ZERO123_REFUSED = {"nfsd": "negative", "dds": "source", "csd": "negative"}
"""Guidances that need what an image-conditioned prior has no text for (CSD: with its negative term)."""


def _reconstruct_cfg(folders: dict[str, Path], image: Path, out: Path, guidance: str):
    from lift3d.export.asset import AssetOptions
    from lift3d.pipelines.prior_specs import NovelViewPriorSpec
    from lift3d.pipelines.reconstruct import OptimizeConfig, ReconstructConfig

    settings = OptimizeConfig(steps=STEPS, num_points=100, novel_views=2, novel_resolution=16,
                              guidance=_guidance(guidance, folders["clip"]))
    return ReconstructConfig(image=image, mode="optimize", prior=NovelViewPriorSpec(model=str(folders["zero123"])),
                             prompt="a red cube", optimize=settings, resolution=16, output=out, turntable_frames=0,
                             asset=AssetOptions(texture_size=0), quiet=True)


@pytest.fixture(scope="module")
def input_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    from PIL import Image

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 10:22] = (200, 40, 40, 255)
    path = tmp_path_factory.mktemp("image") / "cube.png"
    Image.fromarray(rgba).save(path)
    return path


@pytest.mark.parametrize("guidance", GUIDANCES)
def test_zero123(guidance: str, folders: dict[str, Path], input_image: Path, tmp_path: Path) -> None:
    import json

    from lift3d.pipelines.reconstruct import reconstruct

    if guidance in ZERO123_REFUSED:
        with pytest.raises(LiftError, match=ZERO123_REFUSED[guidance]):
            reconstruct(_reconstruct_cfg(folders, input_image, tmp_path / "run", guidance))
        assert not (tmp_path / "run").exists()
        return
    a = reconstruct(_reconstruct_cfg(folders, input_image, tmp_path / "a", guidance))
    b = reconstruct(_reconstruct_cfg(folders, input_image, tmp_path / "b", guidance))
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()
    lines = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == STEPS and "guidance" in lines[-1]
    # reconstruct keeps no checkpoints: the two runs' final splats are compared byte for byte
    assert (a / "export" / "splats.ply").read_bytes() == (b / "export" / "splats.ply").read_bytes()
