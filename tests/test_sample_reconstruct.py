"""Text to image to 3D (``init:sample-reconstruct``): contrast prompts, candidate scoring with the shipped models, the choice
written to the run, and ``lift3d generate`` seeded by it (validation, exact resume)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lift3d.data import FAMILIES, procedural_object, render_object
from lift3d.export.asset import AssetOptions
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
from lift3d.pipelines.inits import FileInit
from lift3d.pipelines.inits.sample import (
    CandidateScorer,
    SampleReconstruct,
    Selection,
    close_gaps,
    rgba_over_white,
    sample_and_reconstruct,
    standardized_sum,
)
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.pipelines.terms.reference import ReferenceTerm
from lift3d.recon.camera import input_camera
from lift3d.recon.inference import feedforward, load_model
from lift3d.rigs.field import FieldScene
from lift3d.rigs.gaussians import GaussianScene
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError


def test_contrast_prompts_swap_the_shape_word() -> None:
    contrast_prompts = BundledPriorSpec().contrast_prompts
    others = contrast_prompts("a shiny red cube")
    assert len(others) == len(FAMILIES) - 1
    assert "a shiny red sphere" in others and all(o.startswith("a shiny red ") for o in others)
    assert "a shiny red cube" not in others
    assert contrast_prompts("a red thing") == []


def _lifted(family: str) -> Gaussians:
    """Feed-forward Gaussians of a real render of a red ``family`` object from the input camera."""
    obj = procedural_object(family, "red", seed=10_000)
    ref = render_object(obj, input_camera(32))
    return feedforward(load_model(None, torch.device("cpu")), torch.cat([ref.rgb[0], ref.alpha[0]], -1))


@pytest.mark.parametrize("selection", list(Selection))
def test_scorer_prefers_the_prompted_shape(selection: Selection) -> None:
    """The shipped reward model, scoring renders around lifted real images, ranks a cube above a sphere and a
    table for "a red cube" and the reverse for "a red sphere"."""
    cube, sphere, table = (_lifted(f) for f in ("cube", "sphere", "table"))
    cfg = SampleReconstruct(selection=selection)
    contrast = BundledPriorSpec().contrast_prompts
    for_cube = CandidateScorer("a red cube", cfg, torch.device("cpu"), contrast("a red cube"))
    for_sphere = CandidateScorer("a red sphere", cfg, torch.device("cpu"), contrast("a red sphere"))
    assert for_cube(cube) > max(for_cube(sphere), for_cube(table))
    assert for_sphere(sphere) > max(for_sphere(cube), for_sphere(table))


def test_rgba_over_white_segments_the_sample() -> None:
    rgb = torch.ones(16, 16, 3)
    rgb[4:10, 5:12] = torch.tensor([0.8, 0.1, 0.1])
    rgba = rgba_over_white(rgb)
    assert rgba.shape == (16, 16, 4)
    assert rgba[..., 3].sum() == 42 and bool((rgba[4:10, 5:12, 3] == 1).all())
    assert torch.equal(rgba[..., :3], rgb)


def test_sample_and_reconstruct_keeps_the_best_candidate(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from lift3d.priors.bundled import BundledPrior

    prior = BundledPrior.from_pretrained(tiny_bundled_prior)
    cfg = SampleReconstruct(candidates=3, ddim_steps=2, score_views=4, close_gaps=False, selection=Selection.CONTRAST,
                            normalize_extent=0.0)
    contrast = BundledPriorSpec().contrast_prompts("a red cube")
    chosen = sample_and_reconstruct(prior, "a red cube", cfg, torch.Generator().manual_seed(0), torch.device("cpu"),
                                    tmp_path, contrast)
    record = json.loads((tmp_path / "init_candidates.json").read_text())
    assert len(record["scores"]) == 3 and record["chosen"] == max(range(3), key=record["scores"].__getitem__)
    assert record["clip"] == record["scores"] and "likelihood" not in record
    assert (tmp_path / "init_candidates.png").is_file()
    again = sample_and_reconstruct(prior, "a red cube", cfg, torch.Generator().manual_seed(0), torch.device("cpu"),
                                   contrast=contrast)
    assert torch.equal(chosen.scene.means, again.scene.means)  # deterministic from the generator
    assert torch.equal(chosen.reference, again.reference)
    scorer = CandidateScorer("a red cube", cfg, torch.device("cpu"), contrast)
    assert abs(scorer(chosen.scene) - max(record["scores"])) < 1e-4
    assert chosen.reference.shape == (cfg.reference_resolution, cfg.reference_resolution, 4)
    # the default adds the prior's likelihood: the same CLIP scores, the choice is the best standardized sum
    both = sample_and_reconstruct(prior, "a red cube", replace(cfg, selection=Selection.CONTRAST_LIKELIHOOD),
                                  torch.Generator().manual_seed(0), torch.device("cpu"), tmp_path, contrast)
    record = json.loads((tmp_path / "init_candidates.json").read_text())
    assert record["selection"] == "contrast-likelihood" and len(record["likelihood"]) == 3
    assert record["scores"] == pytest.approx(standardized_sum(record["clip"], record["likelihood"]), abs=1e-3)
    assert record["chosen"] == max(range(3), key=record["scores"].__getitem__)
    assert abs(scorer(both.scene) - record["clip"][record["chosen"]]) < 1e-4
    # the consensus: the best-scored lifts, best first, as copies (the first stage optimizes the chosen scene)
    assert len(both.consensus) == 3 and torch.equal(both.consensus[0].means, both.scene.means)
    assert both.consensus[0].means is not both.scene.means
    ranked = sorted(range(3), key=lambda i: -record["scores"][i])
    assert [abs(scorer(c) - record["clip"][i]) < 1e-4 for c, i in zip(both.consensus, ranked)] == [True] * 3
    two = sample_and_reconstruct(prior, "a red cube", replace(cfg, consensus=2, normalize_extent=1.0),
                                 torch.Generator().manual_seed(0), torch.device("cpu"), contrast=contrast)
    assert len(two.consensus) == 2  # and each lift is centred at unit size (tests/test_sample_terms.py)


def test_standardized_sum_closed_form() -> None:
    # z-scores of [1, 2, 3] are [-a, 0, a] with a = sqrt(3/2); of [10, 10, 40]: [-b, -b, 2b] with b = 1/sqrt(2)
    a, b = 1.5 ** 0.5, 0.5 ** 0.5
    assert standardized_sum([1, 2, 3], [10, 10, 40]) == pytest.approx([-a - b, -b, a + 2 * b])
    assert standardized_sum([5, 5], [1, 2]) == pytest.approx([-1, 1])  # a tie contributes nothing
    assert standardized_sum([7.0]) == [0.0]


def test_reference_losses_vanish_at_the_reference_and_pull_towards_it() -> None:
    """The reference-view term is 0 for a render of the rig itself from the input camera; for another image it is
    weight x the RGB and mask MSE, and its gradient moves the splats' colours towards that image."""
    from lift3d.rigs.gaussians import GaussianRig

    rig = GaussianRig(GaussianScene(sh_degree=0, densify=None), _lifted("cube"))
    with torch.no_grad():
        own = rig.render(input_camera(32), (1.0, 1.0, 1.0), None)
    reference = torch.cat([own.rgb[0], own.alpha[0]], -1)
    def reference_losses(rig, image, weight):
        return ReferenceTerm(image, input_camera(32), weight, weight).losses(rig, None, None, 0)

    zero = reference_losses(rig, reference, 10.0)
    assert zero["reference"].item() < 1e-10 and zero["reference_mask"].item() < 1e-10
    blue = reference.clone()
    blue[..., :3] = torch.where(blue[..., 3:] > 0.5, torch.tensor([0.1, 0.1, 0.9]), blue[..., :3])
    losses = reference_losses(rig, blue, 10.0)
    expected = 10.0 * torch.nn.functional.mse_loss(own.rgb[0], blue[..., :3])
    assert torch.allclose(losses["reference"], expected, rtol=1e-5)
    rig.zero_grad()
    losses["reference"].backward()
    grad = rig.scene.params["sh0"].grad
    assert grad is not None and float(grad[..., 2].sum()) < 0 < float(grad[..., 0].sum())  # bluer, less red


def _cfg(prior: Path, out: Path, steps: int, **kw) -> GenerateConfig:
    stage = StageConfig(scene=GaussianScene(num_points=200), steps=steps, resolution=16, views_per_step=2)
    return GenerateConfig(prompt="a red cube", prior=BundledPriorSpec(prior), stage=stage, output=out, quiet=True,
                          val_every=2, checkpoint_every=2, turntable_frames=0, asset=AssetOptions(texture_size=0),
                          refine=None, init=SampleReconstruct(candidates=2, ddim_steps=2, score_views=2), **kw)


@pytest.mark.parametrize("terms", [{"consensus_weight": 0.0},
                                   {"reference_weight": 1000.0, "normalize_extent": 0.0, "consensus_weight": 0.0},
                                   {}])  # the default: the consensus term
def test_generate_from_a_sample_resumes_exactly(tiny_bundled_prior: Path, tmp_path: Path, terms: dict) -> None:
    """The first stage starts from the chosen reconstruction (the model's Gaussian count, not num_points) and an
    interrupted run resumes to the uninterrupted one bit for bit, also with the reference-view or consensus term
    (their images and lifts travel in the checkpoint: the samples are not drawn again on resume)."""
    from safetensors.torch import load_file

    reference_weight = terms.get("reference_weight", 0.0)

    def cfg(out: Path, steps: int, **kw) -> GenerateConfig:
        c = _cfg(tiny_bundled_prior, out, steps, **kw)
        return replace(c, init=replace(c.init, **terms))

    (a,) = generate(cfg(tmp_path / "a", 4))
    generate(cfg(tmp_path / "b", 2))
    (b,) = generate(cfg(tmp_path / "b", 4, resume=True))
    ta = load_file(str(a / "ckpt/step_00000004/state.safetensors"))
    tb = load_file(str(b / "ckpt/step_00000004/state.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert (a / "media" / "init_candidates.json").is_file() and (a / "export" / "splats.ply").is_file()
    assert not any((a / "media").glob("turntable.*"))  # turntable_frames=0
    first = load_file(str(a / "ckpt/step_00000002/state.safetensors"))["rig.params.means"].shape[0]
    assert first == _lifted("cube").means.shape[0] != 200
    logged = json.loads((a / "metrics.jsonl").read_text().splitlines()[0])
    assert ("reference" in logged) == (reference_weight > 0)
    assert ("terms.reference.reference" in ta) == (reference_weight > 0)
    consensus = terms.get("consensus_weight", SampleReconstruct.consensus_weight) > 0
    assert ("consensus" in logged) == consensus and ("terms.consensus.lifts.means" in ta) == consensus
    if consensus:  # both candidates, stacked
        assert ta["terms.consensus.lifts.means"].shape == (2, first, 3)


def test_generate_rejects_bad_init_sample_combinations(tmp_path: Path) -> None:
    base = _cfg(tmp_path / "no-prior", tmp_path / "run", 2)
    with pytest.raises(LiftError, match="stage.scene:gaussians"):
        generate(replace(base, stage=replace(base.stage, scene=FieldScene())))
    with pytest.raises(LiftError, match="does not exist"):
        generate(replace(base, init=FileInit(tmp_path / "missing")))
    with pytest.raises(LiftError, match="must be >= 1"):
        generate(replace(base, init=SampleReconstruct(candidates=0)))
    with pytest.raises(LiftError, match="consensus must be >= 1"):
        generate(replace(base, init=SampleReconstruct(consensus=0)))
    with pytest.raises(LiftError, match="must be >= 0"):
        generate(replace(base, init=SampleReconstruct(consensus_weight=-1.0)))
    with pytest.raises(LiftError, match="normalize-extent 0"):
        generate(replace(base, init=SampleReconstruct(reference_weight=1.0)))
    assert not (tmp_path / "run").exists()


def test_close_gaps_widens_discs_in_their_plane() -> None:
    """Small discs 0.1 apart in the z = 0 plane, seen from above at 64 px, leave most pixels of their square
    uncovered; widened to half the gap they cover it, stay flat along z, and a dense cloud is unchanged."""
    from lift3d.cameras import Cameras
    from lift3d.renderers.gaussians import GaussianRenderer

    u = torch.linspace(-0.45, 0.45, 10)
    xy = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    means = torch.cat([xy, torch.zeros(100, 1)], -1)
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(100, 4)

    def discs(scale: float) -> Gaussians:
        return Gaussians(means, quats, torch.tensor([[scale, scale, 1e-4]]).log().expand(100, 3),
                         torch.full((100,), 4.0), torch.zeros(100, 1, 3), torch.zeros(100, 0, 3))

    top = Cameras.from_spherical(torch.tensor([89.0]), torch.tensor([0.0]), 2.75, 40.0, 64)
    renderer = GaussianRenderer()
    square = renderer(discs(0.05), top, torch.zeros(3)).alpha > 0.5  # a closed 1 x 1 square as the reference

    def covered(scene: Gaussians) -> float:
        alpha = renderer(scene, top, torch.zeros(3)).alpha > 0.5
        return float((alpha & square).sum() / square.sum())

    sparse = discs(0.01)
    before = covered(sparse)
    close_gaps(sparse)
    assert before < 0.5 and covered(sparse) > 0.95
    assert torch.allclose(sparse.scales[:, :2], torch.full((100, 2), 0.05)) and torch.allclose(
        sparse.scales[:, 2], torch.full((100,), 1e-4))
    dense = discs(0.08)
    close_gaps(dense)
    assert torch.allclose(dense.scales[:, :2], torch.full((100, 2), 0.08))
