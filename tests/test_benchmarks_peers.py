"""Peer baselines of the benchmarks (issue 31): gsplat's torch reference pipeline, nerfacc's CPU volume ops and
the mesh benchmark's OpenGL (moderngl on Mesa llvmpipe) rasterizer.

Tiny scenes only: the peers must draw the same images as lift3d's CPU renderers, and the benchmark's last
line must keep its ``gaussians: ours=<s> peer=<s> ratio=<x> max_abs_diff=<d>`` format. The mesh peer's camera
conversion and image comparison are checked without moderngl; its drawing only where moderngl and an EGL
context exist (skipped otherwise).
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


def test_mesh_raster_gl_matrices_project_like_lift3d_cameras():
    """The OpenGL projection + view matrices of the mesh peer put points on lift3d's pixels (no moderngl needed)."""
    from mesh_raster import gl_matrices, gl_pixels

    from lift3d.cameras import Cameras

    elevation, azimuth, distance = torch.tensor([20.0, -35.0]), torch.tensor([30.0, 200.0]), torch.tensor([2.6, 3.0])
    cams = Cameras.from_spherical(elevation, azimuth, distance, 50.0, 64, 48)
    cams.K[1, 0, 2] += 3.25  # off-centre principal point and skew on the second camera
    cams.K[1, 1, 2] -= 1.5
    cams.K[1, 0, 1] = 0.8
    cams = cams.to("cpu", torch.float64)
    points = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.5], [-0.7, 0.4, -0.1]], dtype=torch.float64)
    near, far = 0.5, 10.0
    proj, view = gl_matrices(cams, near, far)
    uv_gl, depth_gl, ndc_z = gl_pixels(proj, view, points, cams.width, cams.height)
    uv, z = cams.project(points)
    assert torch.allclose(uv_gl, uv, atol=1e-9), (uv_gl, uv)
    assert torch.allclose(depth_gl, z, atol=1e-12)
    assert ((ndc_z > -1) & (ndc_z < 1)).all()
    # the image centre ray projects to the principal point; near and far land on NDC z = -1 and +1
    c2w = cams.c2w[0]
    on_axis = torch.stack([c2w[:3, 3] + near * c2w[:3, 2], c2w[:3, 3] + far * c2w[:3, 2]])
    uv_axis, _, ndc_axis = gl_pixels(proj[:1], view[:1], on_axis, cams.width, cams.height)
    assert torch.allclose(uv_axis[0], cams.K[0, :2, 2].expand(2, 2), atol=1e-9)
    assert torch.allclose(ndc_axis[0], torch.tensor([-1.0, 1.0], dtype=torch.float64), atol=1e-9)


def test_mesh_raster_agreement_and_last_line():
    import numpy as np
    from mesh_raster import agreement, last_line

    ours = np.array([[0, 1, -1, -1], [2, 2, 3, -1]])
    peer = np.array([[0, 2, -1, 5], [2, 2, 3, -1]])
    depth = np.full(ours.shape, 2.0, dtype=np.float32)
    agree = agreement(ours, depth, peer, depth * (1 + 1e-5))
    assert agree["coverage"] == 7 / 8
    assert agree["face_id"] == 4 / 6  # of the pixels either side covers
    assert abs(agree["depth_max_rel"] - 1e-5) < 1e-6
    line = last_line(0.4, 1000.0, 0.02)
    assert re.fullmatch(r"mesh_raster: ours=[\d.]+ baseline=[\d.]+ ratio=\d+ peer=[\d.]+ peer_ratio=[\d.]+", line), line
    assert "peer_ratio=0.050" in line
    assert last_line(0.4, 1000.0, None).endswith("ratio=2500 peer=none")


def test_mesh_raster_gl_peer_draws_our_face_ids_when_available():
    """Only where moderngl and an EGL context (Mesa llvmpipe) exist; skipped otherwise."""
    import pytest
    from mesh_raster import GLPeer, _sphere, agreement

    from lift3d.cameras import Cameras
    from lift3d.renderers._mesh_interp import fragments, to_image
    from lift3d.renderers._mesh_raster import rasterize

    try:
        peer = GLPeer(48, 40, 1)
    except RuntimeError as err:
        pytest.skip(str(err))
    vertices, faces = _sphere(500)
    peer.upload(vertices, faces)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.6]), 50.0, 48, 40)
    pix, z = cams.project(vertices)
    ids = rasterize(pix, z, faces, 48, 40)
    frags = fragments(pix, z, faces, ids)
    depth = to_image(frags.depth[:, None], frags, ids.shape)[..., 0]
    peer_ids, peer_depth = peer.render(cams, 0.5, 10.0)
    agree = agreement(ids.numpy(), depth.numpy(), peer_ids, peer_depth)
    assert agree["coverage"] >= 0.99 and agree["face_id"] >= 0.97, agree
    assert agree["depth_max_rel"] < 1e-3, agree
