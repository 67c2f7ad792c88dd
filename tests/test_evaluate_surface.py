"""lift3d eval's surface metrics (normal consistency, lumpiness) and the diversity of several seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from lift3d.pipelines.diversity import chamfer_diversity, diversity_by_prompt, silhouette_diversity
from lift3d.pipelines.evaluate import evaluate_asset, ground_truth
from lift3d.pipelines.surface_metrics import (
    curvature_ratio,
    lumpiness,
    normal_consistency,
    surface_quality,
    total_absolute_mean_curvature,
)


def _noisy(mesh: trimesh.Trimesh, sigma: float, seed: int = 0) -> trimesh.Trimesh:
    out = mesh.copy()
    out.vertices = out.vertices + sigma * np.random.default_rng(seed).standard_normal(out.vertices.shape)
    return out


def test_cube_closed_forms() -> None:
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    # 12 edges of length 1 bending by pi/2; the faces' diagonals bend by 0
    assert total_absolute_mean_curvature(box) == pytest.approx(3 * math.pi)
    assert curvature_ratio(box) == pytest.approx(3 * math.pi / math.sqrt(6))
    fine = box.subdivide().subdivide()  # another triangulation of the same cube
    assert total_absolute_mean_curvature(fine) == pytest.approx(3 * math.pi)
    big = box.copy()
    big.apply_scale(2.5)
    for mesh in (box, fine, big):
        q = surface_quality(mesh, box, samples=2048)
        assert q.normal_consistency == pytest.approx(1.0, abs=1e-9) and q.lumpiness == pytest.approx(0.0, abs=1e-9)
    q = surface_quality(ground_truth("cube", "red").mesh(), box)  # the evaluation's own ground truth
    assert q.normal_consistency == pytest.approx(1.0, abs=1e-9) and q.lumpiness == pytest.approx(0.0, abs=1e-9)


def test_noisy_cube_is_measurably_worse_and_worse_with_more_noise() -> None:
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    fine = box.subdivide().subdivide().subdivide()
    small, large = surface_quality(_noisy(fine, 0.005), box), surface_quality(_noisy(fine, 0.03), box)
    assert 0.8 < large.normal_consistency < small.normal_consistency < 0.995
    assert 0.2 < small.lumpiness < large.lumpiness


def test_smooth_shapes_score_below_zero_lumpiness_against_a_cube() -> None:
    cube, sphere = ground_truth("cube", "red").mesh(), ground_truth("sphere", "red").mesh()
    assert curvature_ratio(sphere) == pytest.approx(2 * math.sqrt(math.pi), rel=2e-3)  # 4 pi r / sqrt(4 pi r^2)
    assert lumpiness(sphere, cube) == pytest.approx(2 * math.sqrt(math.pi) / (3 * math.pi / math.sqrt(6)) - 1, rel=0.01)
    assert normal_consistency(sphere, cube) < 0.9


def test_every_families_ground_truth_scores_perfectly() -> None:
    for family in ("cone", "torus", "table"):
        mesh = ground_truth(family, "red").mesh()
        q = surface_quality(mesh, mesh, samples=1024)
        assert q.normal_consistency == pytest.approx(1.0, abs=1e-6) and q.lumpiness == pytest.approx(0.0, abs=1e-9)


def test_eval_report_gains_surface_fields() -> None:
    from lift3d.data import render_object

    obj = ground_truth("pyramid", "orange")
    r = evaluate_asset("an amber square pyramid", lambda c: render_object(obj, c).alpha,
                       lambda c: render_object(obj, c, background=(0.0, 0.0, 0.0)).aux["albedo"],
                       _noisy(obj.mesh().subdivide().subdivide(), 0.01), resolution=32, samples=1024)
    assert r.retrieval_correct and r.chamfer is not None
    assert r.normal_consistency is not None and 0.8 < r.normal_consistency < 0.99 and r.lumpiness > 0.1
    assert evaluate_asset("a red cube", lambda c: render_object(obj, c).alpha,
                          lambda c: render_object(obj, c).aux["albedo"], resolution=32).normal_consistency is None


def test_diversity_closed_forms() -> None:
    a = torch.zeros(2, 4, 4, 1)
    a[:, :2] = 1
    b = torch.zeros(2, 4, 4, 1)
    b[:, 1:3] = 1
    assert silhouette_diversity([a, a, a]) == pytest.approx(0.0)
    assert silhouette_diversity([a, b]) == pytest.approx(1 - 4 / 12)
    p = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    shifted = p + [0.0, 0.5, 0.0]
    assert chamfer_diversity([p, shifted], scale=0.5) == pytest.approx(1.0)
    assert chamfer_diversity([p, p, shifted]) == pytest.approx((0 + 0.5 + 0.5) / 3)
    d = diversity_by_prompt(["x", "x", "y"], [0, 1, 0], [a, b, a], [p, None, p], [1.0, 1.0, 1.0])
    assert list(d) == ["x"] and d["x"].seeds == [0, 1] and d["x"].chamfer is None  # y has one run; no mesh in one
    with pytest.raises(ValueError, match="at least two"):
        silhouette_diversity([a])


def tiny_generate_args(prior: Path) -> list[str]:
    """``lift3d generate`` options for a run of seconds on the tiny prior (shared with tests/test_bench.py)."""
    return ["--stage.steps", "2", "--stage.resolution", "16", "--stage.views-per-step", "1", "--val-every", "2",
            "--turntable-frames", "2", "--checkpoint-every", "5", "--asset.texture-size", "0", "--quiet",
            "prior:bundled", "--prior.path", str(prior)]


def test_eval_of_several_seeds_reports_diversity(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from lift3d.pipelines.evaluate import main
    from lift3d.pipelines.generate import main as generate_main

    runs = [tmp_path / f"s{s}" for s in (0, 1)]
    for seed, run in enumerate(runs):
        generate_main(["--preset", "dreamfusion", "a red cube", "--output", str(run), "--seed", str(seed),
                       *tiny_generate_args(tiny_bundled_prior)])
    main([*map(str, runs), "--out", str(tmp_path / "summary.json")])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == 2 and set(summary) >= {"retrieval", "mean_iou", "colour", "reports", "diversity"}
    (d,) = summary["diversity"].values()
    assert d["runs"] == 2 and d["seeds"] == [0, 1] and 0.0 <= d["silhouette"] <= 1.0
    report = summary["reports"][0]
    assert {"normal_consistency", "lumpiness", "chamfer", "iou"} <= set(report)
    assert json.loads((runs[0] / "eval.json").read_text())["lumpiness"] == report["lumpiness"]
