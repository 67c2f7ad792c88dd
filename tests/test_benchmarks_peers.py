"""Peer baselines of the benchmarks (issue 31): gsplat's torch reference pipeline and nerfacc's CPU volume ops.

Tiny scenes only: the peers must draw the same images as lift3d's CPU renderers, and the benchmark's last
line must keep its ``gaussians: ours=<s> peer=<s> ratio=<x> max_abs_diff=<d>`` format.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def test_gsplat_peer_matches_our_splat_renderer():
    from gaussians import _scene_and_camera
    from peer_gsplat import render_peer

    from lift3d.renderers import GaussianRenderer, GaussianRendererConfig

    scene, cams = _scene_and_camera(300, 32)  # has an exact depth tie: checks the stable tile sort
    with torch.no_grad():
        ours = GaussianRenderer(GaussianRendererConfig(backend="torch"))(scene, cams)
        timings: dict = {}
        rgb, alpha, img = render_peer(scene, cams, timings=timings)
    assert (ours.rgb - rgb).abs().max() < 1e-4
    assert (ours.alpha - alpha).abs().max() < 1e-4
    assert set(timings) == {"project", "features", "isect", "composite"}


def test_gsplat_peer_gradients_flow():
    from gaussians import _scene_and_camera
    from peer_gsplat import render_peer

    scene, cams = _scene_and_camera(50, 16)
    render_peer(scene, cams)[0].sum().backward()
    assert scene.params["means"].grad is not None and scene.params["means"].grad.abs().sum() > 0


def test_nerfacc_peer_matches_our_volume_renderer():
    from peer_nerfacc import render_peer
    from volume import baked_grid

    from lift3d.cameras import Cameras
    from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig

    grid = baked_grid("mushroom", 16)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.4]), 40.0, 12)
    with torch.no_grad():
        ours = VolumeRenderer(VolumeRendererConfig(num_samples=16, backend="torch"))(grid, cams)
        rgb, alpha = render_peer(grid, cams, 16)
    assert (ours.rgb - rgb).abs().max() < 1e-5
    assert (ours.alpha - alpha).abs().max() < 1e-5


def test_peer_line_format():
    from gaussians import peer_line

    line = peer_line(0.5, 2.0, 1.5e-6)
    assert re.fullmatch(r"gaussians: ours=[\d.]+ peer=[\d.]+ ratio=[\d.]+ max_abs_diff=[\d.e+-]+", line), line
    assert "ratio=4.00" in line


def test_gaussians_benchmark_tiny_run_ends_with_peer_line():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gaussians.py"), "--counts", "200", "--sizes", "32", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"peak RSS: parent \d+ MiB, largest child \d+ MiB", lines[-2]), lines
    m = re.fullmatch(r"gaussians: ours=([\d.]+) peer=([\d.]+) ratio=([\d.]+) max_abs_diff=([\d.e+-]+)", lines[-1])
    assert m, lines
    assert float(m.group(4)) < 1e-4
