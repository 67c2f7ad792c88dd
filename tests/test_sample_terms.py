"""The terms that keep ``init:sample-reconstruct`` runs near the prior's samples: majority silhouettes of several lifts, the
consensus loss pulling a scene to them, their checkpoint round trip, and size normalization of a lift."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import Cameras
from lift3d.data import procedural_object, render_object
from lift3d.pipelines.evaluate import eval_cameras, silhouette_iou
from lift3d.pipelines.inits import InitContext
from lift3d.pipelines.inits.sample import SampleReconstruct, close_gaps, copy_scene, normalize_lift
from lift3d.pipelines.normalize_size import hull_box
from lift3d.pipelines.terms import terms_state
from lift3d.pipelines.terms.consensus import ConsensusTerm, majority_silhouettes, stack_scenes, unstack_scenes
from lift3d.recon.camera import input_camera
from lift3d.recon.inference import feedforward, load_model
from lift3d.renderers.gaussians import GaussianRenderer
from lift3d.rigs.gaussians import GaussianRig, GaussianScene
from lift3d.scenes.gaussians import Gaussians


@pytest.fixture(scope="module")
def lifts() -> dict[str, Gaussians]:
    """Feed-forward Gaussians of real renders of a red cube, sphere and cone from the input camera, their gaps
    closed as the pipeline does (nearly opaque inside their silhouettes)."""
    model = load_model(None, torch.device("cpu"))
    out = {}
    for family in ("cube", "sphere", "cone"):
        ref = render_object(procedural_object(family, "red", seed=10_000), input_camera(32))
        out[family] = close_gaps(feedforward(model, torch.cat([ref.rgb[0], ref.alpha[0]], -1)))
    return out


def _alpha(scene: Gaussians, cams: Cameras) -> torch.Tensor:
    with torch.no_grad():
        return GaussianRenderer()(scene, cams, torch.ones(3)).alpha


def _masks(scene: Gaussians, cams: Cameras) -> torch.Tensor:
    return (_alpha(scene, cams) > 0.5).float()


def test_majority_of_three_follows_the_two_that_agree(lifts: dict[str, Gaussians]) -> None:
    """Of (cube, cube, sphere) the majority is 1 wherever the cube's alpha exceeds 0.8 (mean >= 1.6 / 3) and 0
    wherever it is below 0.2 (mean <= 1.4 / 3), whatever the sphere shows; likewise with the roles swapped. The
    majority of three different shapes lies inside their union and covers their common part."""
    cams = eval_cameras(32)
    cube, sphere, cone = (_alpha(lifts[f], cams) for f in ("cube", "sphere", "cone"))
    assert silhouette_iou(cube, sphere) < 0.95  # different enough for the test to mean something
    for two, one, alpha in (("cube", "sphere", cube), ("sphere", "cube", sphere)):
        majority = majority_silhouettes([lifts[two], lifts[one], lifts[two]], cams)
        assert set(majority.unique().tolist()) == {0.0, 1.0}
        sure = (alpha > 0.8) | (alpha < 0.2)
        assert float(sure.float().mean()) > 0.9
        assert torch.equal(majority[sure], (alpha[sure] > 0.5).float())
    mixed = majority_silhouettes([lifts["cube"], lifts["sphere"], lifts["cone"]], cams)
    union = torch.maximum(torch.maximum(cube, sphere), cone)
    common = torch.minimum(torch.minimum(cube, sphere), cone)
    assert bool((mixed[union < 0.5] == 0).all()) and bool((mixed[common > 0.5] == 1).all())


def test_consensus_loss_is_the_mask_mse_and_pulls_a_scene_to_the_majority(lifts: dict[str, Gaussians]) -> None:
    """The loss equals weight x MSE(alpha, majority); descending it alone from a sphere, the silhouettes move from
    the sphere's to the majority of (cube, cube, sphere) over views never fitted."""
    term = ConsensusTerm(stack_scenes([lifts["cube"], lifts["cube"], lifts["sphere"]]), 10.0)
    rig = GaussianRig(GaussianScene(sh_degree=0, densify=None), copy_scene(lifts["sphere"]))
    cams = Cameras.from_spherical(torch.tensor([20.0, 20.0]), torch.tensor([0.0, 90.0]), 2.75, 40.0, 32)
    out = rig.render(cams, (1.0, 1.0, 1.0), None)
    target = majority_silhouettes(unstack_scenes(term.lifts), cams)
    loss = term.losses(rig, out, cams, 1)["consensus"]
    assert torch.allclose(loss, 10.0 * torch.nn.functional.mse_loss(out.alpha, target))
    held_out = eval_cameras(32)
    cube = _masks(lifts["cube"], held_out)
    before = silhouette_iou(_masks(rig.scene, held_out), cube)
    gen = torch.Generator().manual_seed(0)
    for step in range(60):
        az = torch.rand(4, generator=gen) * 360
        cams = Cameras.from_spherical(torch.full((4,), 15.0) + 30 * torch.rand(4, generator=gen), az, 2.75, 40.0, 32)
        out = rig.render(cams, (1.0, 1.0, 1.0), None)
        rig.zero_grad()
        term.losses(rig, out, cams, step)["consensus"].backward()
        rig.step(step, out, cams)
    after = silhouette_iou(_masks(rig.scene, held_out), cube)
    assert after > before + 0.05 and after > 0.9, (before, after)


def test_terms_round_trip_through_a_checkpoint_state(lifts: dict[str, Gaussians]) -> None:
    """The init restores from the checkpoint's ``terms`` entry terms that give the same losses; the weights come from
    the run's config, not the state; the reference view is the first stage's only."""
    sample = SampleReconstruct(reference_weight=3.0, consensus_weight=5.0)
    first, every = sample._terms(torch.rand(16, 16, 4), stack_scenes([lifts["cone"], lifts["sphere"]]))
    state = terms_state(first + every)
    assert set(state) == {"reference", "consensus"} and state["consensus"]["lifts"]["means"].shape[0] == 2
    ctx = InitContext("a red cube", None, None, GaussianScene(), 0, torch.device("cpu"), None)
    again = sample.restore(ctx, state)
    rig = GaussianRig(GaussianScene(sh_degree=0, densify=None), copy_scene(lifts["cube"]))
    cams = Cameras.from_spherical(torch.tensor([30.0]), torch.tensor([45.0]), 2.75, 40.0, 24)
    out = rig.render(cams, (1.0, 1.0, 1.0), None)

    def losses(terms):
        return {k: v for t in terms for k, v in t.losses(rig, out, cams, 0).items()}

    a, b = losses(first + every), losses(again.terms(0))
    assert a.keys() == b.keys() == {"reference", "reference_mask", "consensus"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "reference" not in losses(again.terms(1))
    assert again.rig is None and not sample.restore(ctx, {}).terms(0)


def test_normalize_lift_centres_the_hull_at_the_given_size(lifts: dict[str, Gaussians]) -> None:
    """A lift moved by (0.3, -0.2, 0.1) and scaled by 1.3 comes back centred with its largest side 1 (the
    visual-hull box, within the hull's lattice), its renders scaled copies of the original's."""
    scene = copy_scene(lifts["cone"])
    with torch.no_grad():
        scene.params["means"].mul_(1.3).add_(torch.tensor([0.3, -0.2, 0.1]))
        scene.params["scales"].add_(torch.tensor(1.3).log())
    normalize_lift(scene, 1.0)
    lo, hi = hull_box(GaussianRig(GaussianScene(), scene))
    assert float((hi - lo).max()) == pytest.approx(1.0, abs=0.02)
    assert torch.allclose((hi + lo) / 2, torch.zeros(3), atol=0.02)
    original = copy_scene(lifts["cone"])
    normalize_lift(original, 1.0)
    assert torch.allclose(scene.means, original.means, atol=0.02)
