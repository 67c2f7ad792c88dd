"""lift3d eval: metrics against the procedural ground truth."""

from pathlib import Path

import pytest
import torch

from lift3d.data import render_object
from lift3d.pipelines.evaluate import chamfer, eval_cameras, evaluate_asset, ground_truth, silhouette_iou
from lift3d.types import LiftError


def _renderers(obj):
    def alpha(cams):
        return render_object(obj, cams).alpha

    def albedo(cams):
        return render_object(obj, cams, background=(0.0, 0.0, 0.0)).aux["albedo"]

    return alpha, albedo


def test_ground_truth_scores_perfectly_and_is_retrieved() -> None:
    obj = ground_truth("torus", "green")
    alpha, albedo = _renderers(obj)
    r = evaluate_asset("a lime donut", alpha, albedo, obj.mesh(), resolution=32)
    assert (r.family, r.colour) == ("torus", "green")
    assert r.iou == pytest.approx(1.0) and r.retrieval_correct and r.colour_correct
    assert r.chamfer is not None and r.chamfer < 0.02
    assert r.iou_per_family["sphere"] < 0.9


def test_wrong_shape_is_not_retrieved() -> None:
    alpha, albedo = _renderers(ground_truth("cone", "blue"))
    r = evaluate_asset("a blue cube", alpha, albedo, resolution=32)
    assert r.retrieved == "cone" and not r.retrieval_correct and r.iou < 0.8 and r.colour_correct


def test_a_known_instance_is_its_familys_ground_truth() -> None:
    from lift3d.data import procedural_object

    # A held-out short cylinder: against canonical shapes of extent 1 its own renders are nearer the sphere,
    # so image-to-3D is scored against the instance, the other families scaled to its extent.
    obj = procedural_object("cylinder", "red", seed=10000)
    alpha, albedo = _renderers(obj)
    canonical = evaluate_asset(obj.caption, alpha, albedo, resolution=32)
    assert canonical.retrieved == "sphere" and not canonical.retrieval_correct
    r = evaluate_asset(obj.caption, alpha, albedo, obj.mesh(), resolution=32, truth=obj)
    assert r.retrieval_correct and r.iou == pytest.approx(1.0) and r.chamfer is not None and r.chamfer < 0.02
    extent = obj.extent()
    assert extent == pytest.approx(2 * max(obj.half_extents()))
    sphere = ground_truth("sphere", "red", extent)
    assert sphere.extent() == pytest.approx(extent)
    assert r.iou_per_family["sphere"] == pytest.approx(
        silhouette_iou(alpha(eval_cameras(32)), render_object(sphere, eval_cameras(32)).alpha))
    with pytest.raises(LiftError, match="names cube, but the ground-truth object is a cylinder"):
        evaluate_asset("a red cube", alpha, albedo, resolution=32, truth=obj)


def test_iou_and_chamfer_closed_forms() -> None:
    a = torch.zeros(1, 4, 4, 1)
    a[:, :2] = 1
    b = torch.zeros(1, 4, 4, 1)
    b[:, 1:3] = 1
    assert silhouette_iou(a, b) == pytest.approx(4 / 12)
    p = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert chamfer(p.numpy(), (p + torch.tensor([0.0, 0.5, 0.0])).numpy()) == pytest.approx(0.5)


def test_prompt_without_ground_truth_is_a_clear_error() -> None:
    with pytest.raises(LiftError, match="names no procedural shape family"):
        evaluate_asset("a hamburger", lambda c: None, lambda c: None)


def test_eval_of_a_run_folder(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    import json

    from test_generate import _cfg

    from lift3d.pipelines.evaluate import evaluate_run
    from lift3d.pipelines.generate import generate

    (run,) = generate(_cfg(tiny_bundled_prior, tmp_path / "run", steps=2))
    report = evaluate_run(run)
    saved = json.loads((run / "eval.json").read_text())
    assert saved["family"] == "cube" and saved["colour"] == "red"
    assert 0.0 <= report.iou <= 1.0 and set(saved["iou_per_family"]) >= {"cube", "sphere", "torus"}
    with pytest.raises(LiftError, match="not a lift3d run folder"):
        evaluate_run(tmp_path)
    # the CLI takes run folders positionally, as `make demo` calls it
    from lift3d.pipelines.evaluate import main

    main([str(run), "--out", str(tmp_path / "summary.json")])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == 1 and summary["reports"][0]["iou"] == pytest.approx(report.iou)
    assert ((run / "export" / "mesh.glb").stat().st_mode & 0o777) == 0o644  # exports are shareable files
