"""The invocations a new user tries, one step off the tuned paths, through ``lift3d.cli.main`` (the console
script's function): each works, or is refused in one line with nothing left behind.

Sizes are shrunk with flags given after the subcommand selectors, as users write them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from priors_fixtures import save_mvdream
from safetensors.torch import load_file

from lift3d.cli import main

TINY = ["--stage.steps", "2", "--stage.resolution", "16", "--stage.views-per-step", "2", "--turntable-frames", "0",
        "--no-export", "--quiet", "--checkpoint-every", "1"]
TINY_SAMPLE = [*TINY, "--init.candidates", "2", "--init.ddim-steps", "2", "--init.score-views", "2"]
TINY_FIELD = [*TINY, "--stage.scene.field.resolution", "12", "--stage.scene.renderer.num-samples", "12"]


def _bundled(prior: Path) -> list[str]:
    return ["prior:bundled", "--prior.path", str(prior)]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_default_preset_with_dds(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    """DDS's source is the stage's starting scene (here the chosen lift), saved with the checkpoints."""
    out = tmp_path / "run"
    assert main(["generate", "a red cube", "stage.guidance:dds", *_bundled(tiny_bundled_prior), *TINY_SAMPLE,
                 "--source-prompt", "a white blob", "--output", str(out), "refine:none"]) == 0
    lines = _metrics(out)
    assert len(lines) == 2 and all(torch.isfinite(torch.tensor(x["guidance"])) for x in lines)
    first_stage = load_file(str(out / "ckpt" / "step_00000002" / "state.safetensors"))
    moved = first_stage["rig.params.means"]
    source = first_stage["terms.source.scene.params.means"]
    assert source.shape == moved.shape and not torch.equal(source, moved)  # the source stays, the scene moves


@pytest.mark.parametrize("guidance", [["stage.guidance:nfsd"], ["stage.guidance:csd", "--stage.guidance.negative-scale", "1"]])
def test_negative_prompt_defaults_for_guidances_that_need_one(guidance: list[str], tiny_bundled_prior: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["generate", "a red cube", "--preset", "dreamfusion", *guidance, *_bundled(tiny_bundled_prior),
                 *TINY_FIELD, "--output", str(out)]) == 0
    assert len(_metrics(out)) == 2


def test_mvdream_under_the_default_schedule(tmp_path: Path) -> None:
    """No shared-timestep flag: the 4 views of a group share t and elevation automatically."""
    folder = save_mvdream(tmp_path / "mvdream")
    out = tmp_path / "run"
    assert main(["generate", "a red cube", "--preset", "dreamfusion", "prior:mvdream", "--prior.model", str(folder),
                 *[("4" if prev == "--stage.views-per-step" else a) for prev, a in zip(["", *TINY_FIELD], TINY_FIELD)],
                 "--output", str(out)]) == 0
    assert len(_metrics(out)) == 2


def test_mvdream_preset_parses_and_shares_groups() -> None:
    from lift3d.guidance import SDSConfig
    from lift3d.pipelines.presets import PRESETS
    from lift3d.priors.mvdream import MVDreamConfig

    cfg = PRESETS["mvdream"]
    assert isinstance(cfg.prior, MVDreamConfig) and cfg.stage.views_per_step % cfg.prior.num_frames == 0
    assert isinstance(cfg.stage.guidance, SDSConfig) and cfg.stage.guidance.guidance_scale == 50.0


def test_reward_over_vsd_then_a_vsd_stage(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    """The reward-weighted VSD stage adapts the prior (LoRA); the VSD refine stage gets a clean one."""
    out = tmp_path / "run"
    assert main(["generate", "a red cube", "--preset", "prolificdreamer", "stage.guidance:reward",
                 "stage.guidance.base:vsd", "--stage.guidance.num-noises", "2", "--stage.guidance.top-k", "1",
                 *_bundled(tiny_bundled_prior), *TINY_FIELD, "--refine.steps", "2", "--refine.resolution", "16",
                 "--refine.views-per-step", "2", "--refine.scene.max-faces", "300", "--output", str(out)]) == 0
    assert len(_metrics(out)) == 4
    state = json.loads((out / "ckpt" / "step_00000004" / "state.json").read_text())["state"]
    assert "optimizer" in state["guidance"]["guidance:"]  # the refine stage's VSD, on a fresh prior


def test_reward_preset_scores_with_clip(tiny_bundled_prior: Path) -> None:
    from lift3d.pipelines.generate import build_guidance
    from lift3d.pipelines.presets import PRESETS
    from lift3d.pipelines.prior_specs import BundledPriorSpec
    from lift3d.priors.rewards import CLIPReward

    cfg = PRESETS["reward"]
    prior = BundledPriorSpec(tiny_bundled_prior).build(torch.device("cpu"))
    guidance = build_guidance(cfg.stage, prior, cfg.__class__(prompt="a red cube"))
    assert isinstance(guidance.reward, CLIPReward)  # text-image alignment of the prompt, not image contrast


def test_missing_prior_leaves_nothing_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["generate", "a red cube", "prior:stable-diffusion", "--prior.model", str(tmp_path / "no-such-model"),
                 "--output", str(out)]) == 1
    assert "no-such-model" in _one_error_line(capsys)
    assert not out.exists()


def test_overwrite_with_a_missing_prior_keeps_the_old_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier run")
    assert main(["generate", "a red cube", "prior:stable-diffusion", "--prior.model", str(tmp_path / "missing"),
                 "--output", str(out), "--overwrite"]) == 1
    _one_error_line(capsys)
    assert (out / "keep.txt").read_text() == "an earlier run"


@pytest.mark.parametrize("args, match", [
    (["--preset", "dreamfusion", "stage.scene:mesh"], "mesh first stage needs a mesh"),
    (["--preset", "dreamfusion", "refine:stage", "refine.scene:field", "refine.scene.field:hash-grid"],
     "continues the first stage's field"),
    (["--preset", "dreamfusion", "prior:mvdream", "--stage.views-per-step", "3"], "not a multiple of 4"),
])
def test_combinations_that_cannot_work_are_refused_up_front(args: list[str], match: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["generate", "a red cube", *args, "--output", str(out)]) == 1
    assert match in _one_error_line(capsys)
    assert not out.exists()


def test_default_preset_repeats_and_resumes_through_the_mesh_refine(tiny_bundled_prior: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The default preset (sampled lift, Gaussians, mesh refine): two runs agree, and a run killed in the mesh stage
    resumes to the uninterrupted one, bit for bit."""
    from dataclasses import replace

    from matrix_support import check_exact

    from lift3d.pipelines.presets import PRESETS
    from lift3d.pipelines.prior_specs import BundledPriorSpec

    d = PRESETS["default"]
    cfg = replace(d, prompt="a red cube", prior=BundledPriorSpec(tiny_bundled_prior),
                  stage=replace(d.stage, steps=2, resolution=16, views_per_step=2),
                  refine=replace(d.refine, steps=3, resolution=16, views_per_step=2,
                                 scene=replace(d.refine.scene, max_faces=300)),
                  init=replace(d.init, candidates=2, ddim_steps=2, score_views=2), quiet=True,
                  checkpoint_every=1, val_every=100, turntable_frames=0, export=False)
    check_exact(cfg, tmp_path, monkeypatch, kill_after=4)
