"""lift3d generate: a few steps on a tiny prior, exact resume, outputs, bad input."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lift3d.export.asset import AssetOptions
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate, main
from lift3d.pipelines.inits import RandomInit
from lift3d.pipelines.presets import PRESETS
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.renderers.volume import VolumeRendererConfig
from lift3d.rigs.field import BLOB, FieldScene
from lift3d.rigs.gaussians import GaussianScene
from lift3d.scenes.density_grid import DensityGridConfig
from lift3d.scenes.gaussians_strategy import DefaultDensify
from lift3d.types import LiftError

FIELD = FieldScene(field=DensityGridConfig(resolution=16, activation=BLOB), renderer=VolumeRendererConfig(num_samples=24))
GAUSS = GaussianScene(num_points=300, init_opacity=0.5,
                      densify=DefaultDensify(grow_grad2d=1e-9, refine_start_iter=1, refine_stop_iter=10, refine_every=2,
                                             reset_every=1000))


def _cfg(prior: Path, out: Path, steps: int = 3, scene=FIELD, **kw) -> GenerateConfig:
    kw.setdefault("normalize_extent", 1.0)  # exercised everywhere: a longer resumed run must still match exactly
    stage = StageConfig(scene=scene, steps=steps, resolution=16, views_per_step=2)
    return GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), prior=BundledPriorSpec(prior), stage=stage, output=out, quiet=True,
                          val_every=2, checkpoint_every=2, turntable_frames=4, asset=AssetOptions(texture_size=0), **kw)


def test_generate_runs_and_writes_outputs(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    (run,) = generate(_cfg(tiny_bundled_prior, tmp_path / "run"))
    assert (run / "config.json").is_file() and (run / "env.json").is_file()
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["step_00000002", "step_00000003"]
    assert (run / "media" / "val_000002.png").is_file()
    assert any((run / "media").glob("turntable.*"))
    assert (run / "export" / "mesh.glb").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3] and all(torch.isfinite(torch.tensor(x["loss"])) for x in lines)
    # the final checkpoint keeps the optimized scene and the size normalization next to it; loading applies it
    from lift3d.pipelines.load import load_generate_run
    from lift3d.pipelines.normalize_size import hull_box
    from lift3d.runs import RunDir

    _, state = RunDir(run).latest()
    assert state["normalize"].shape == (4,) and lines[-1]["normalize_factor"] == pytest.approx(float(state["normalize"][3]))
    _, rig = load_generate_run(run)
    lo, hi = hull_box(rig)
    assert float((hi - lo).max()) == pytest.approx(1.0, abs=0.04)
    torch.testing.assert_close((lo + hi) / 2, torch.zeros(3), atol=0.03, rtol=0)


@pytest.mark.parametrize("scene", [FIELD, GAUSS], ids=["field", "gaussians"])
def test_interrupted_and_resumed_equals_uninterrupted(scene, tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    (a,) = generate(_cfg(tiny_bundled_prior, tmp_path / "a", steps=4, scene=scene))
    generate(_cfg(tiny_bundled_prior, tmp_path / "b", steps=2, scene=scene))
    (b,) = generate(_cfg(tiny_bundled_prior, tmp_path / "b", steps=4, scene=scene, resume=True))
    ta = load_file(str(a / "ckpt/step_00000004/state.safetensors"))
    tb = load_file(str(b / "ckpt/step_00000004/state.safetensors"))
    assert ta.keys() == tb.keys()
    assert (a / "metrics.jsonl").read_text().count("\n") == (b / "metrics.jsonl").read_text().count("\n") == 4
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    if scene is GAUSS:  # densification changed the number of Gaussians and resume kept up
        assert ta["rig.params.means"].shape[0] != 300


def test_two_stages_coarse_then_mesh_refine_resume(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from lift3d.rigs.mesh import MeshScene

    refine = StageConfig(scene=MeshScene(max_faces=500), steps=3, resolution=16, views_per_step=2)
    (a,) = generate(replace(_cfg(tiny_bundled_prior, tmp_path / "a", steps=2), refine=refine))
    generate(replace(_cfg(tiny_bundled_prior, tmp_path / "b", steps=2), refine=replace(refine, steps=1)))
    (b,) = generate(replace(_cfg(tiny_bundled_prior, tmp_path / "b", steps=2), refine=refine, resume=True))
    ta = load_file(str(a / "ckpt/step_00000005/state.safetensors"))
    tb = load_file(str(b / "ckpt/step_00000005/state.safetensors"))
    assert any(k.startswith("rig.scene.offsets") for k in ta)  # the last stage is the mesh
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert (a / "export" / "mesh.glb").is_file()


@pytest.mark.parametrize("prompt, match", [("   ", "empty"), ("x" * 400, "shorten")])
def test_bad_prompts_fail_before_compute(prompt: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(LiftError, match=match):
        generate(replace(_cfg(tmp_path / "no-prior", tmp_path / "run"), prompt=prompt))
    assert not (tmp_path / "run").exists()


def test_cli_unknown_preset_and_missing_prior(tmp_path: Path) -> None:
    with pytest.raises(LiftError, match="unknown preset 'nope'"):
        main(["--preset", "nope", "a red cube"])
    with pytest.raises(LiftError, match="no bundled prior"):
        main(["a red cube", "--output", str(tmp_path / "o"), "--quiet", "prior:bundled", "--prior.path", str(tmp_path)])


def test_every_preset_parses() -> None:
    from lift3d.config import from_dict, to_dict

    for name, cfg in PRESETS.items():
        assert from_dict(GenerateConfig, to_dict(cfg)) == cfg, name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"default"}))
def test_every_preset_runs_three_steps(name: str, tiny_bundled_prior: Path, tmp_path: Path) -> None:
    """Each preset, shrunk to 16 px and 3 steps per stage, runs end to end on the tiny prior."""
    cfg = PRESETS[name]

    def shrink(stage: StageConfig) -> StageConfig:
        scene = stage.scene
        if isinstance(scene, FieldScene):
            scene = replace(scene, renderer=VolumeRendererConfig(num_samples=16))
        elif isinstance(scene, GaussianScene):
            scene = replace(scene, num_points=200)
        return replace(stage, scene=scene, steps=3, resolution=16, views_per_step=2)

    cfg = replace(cfg, prompt="a green torus", prior=BundledPriorSpec(tiny_bundled_prior), stage=shrink(cfg.stage),
                  refine=None if cfg.refine is None else shrink(cfg.refine), output=tmp_path / name, quiet=True,
                  turntable_frames=2, asset=AssetOptions(texture_size=0))
    (run,) = generate(cfg)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 * (1 + (cfg.refine is not None))


def test_num_samples_gives_one_run_per_seed(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    runs = generate(replace(_cfg(tiny_bundled_prior, tmp_path / "many", steps=1), num_samples=2, seed=5))
    assert runs == [tmp_path / "many" / "seed5", tmp_path / "many" / "seed6"]
    assert json.loads((runs[1] / "env.json").read_text())["seed"] == 6
