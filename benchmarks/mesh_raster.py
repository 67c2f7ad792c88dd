"""Binned mesh visibility (ours) vs the brute-force all-pixels x all-faces z-buffer, on CPU.

Both compute the same face-id image (checked on the evaluated pixels). The brute force is timed on a
random subset of pixels and extrapolated linearly to the full image (its cost is exactly linear in
the number of pixels; the full run would take minutes and gigabytes). Also reports our full
differentiable render (visibility + interpolation + antialiasing) forward and backward.

No third-party CPU rasterizer is compared yet (see ``PEER_NOTE`` and docs/mesh.md: pytorch3d and nvdiffrast
have no installable distribution here, pyrender needs an OpenGL context; moderngl with Mesa's llvmpipe over
EGL does create a CPU OpenGL context but is not wired in), so the brute force stays the baseline and the
line before the peak-RSS line says why ``peer=none``.

Usage: ``python benchmarks/mesh_raster.py [--repeats 3] [--subset 2048] [--threads 1]``. Last line:
``mesh_raster: ours=<s> baseline=<s> ratio=<x> peer=none`` for 50k faces at 512x512.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import trimesh
from _child import peak_rss_line

from lift3d.cameras import Cameras
from lift3d.renderers._mesh_raster import rasterize, rasterize_brute_force
from lift3d.renderers.mesh import render_mesh

PEER_NOTE = (
    "peer=none: pytorch3d and nvdiffrast: no installable distribution (pip: no matching distribution); "
    "pyrender: needs an OpenGL context (none headless without EGL/OSMesa); moderngl + glcontext with Mesa "
    "llvmpipe over EGL (apt libegl1 libgl1-mesa-dri) creates a CPU context but is not integrated yet"
)


def _sphere(target_faces: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(round((target_faces / 4) ** 0.5))  # a uv sphere with count [n, n + 1] has ~4 n^2 faces
    m = trimesh.creation.uv_sphere(radius=1.0, count=[n, n + 1])
    return torch.from_numpy(np.asarray(m.vertices, dtype=np.float32)), torch.from_numpy(np.asarray(m.faces))


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=2048, help="pixels evaluated by the brute force")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both methods)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"brute force timed on {args.subset} random pixels and extrapolated linearly to the full image")
    header = f"{'faces':>7} {'size':>9} {'ours (s)':>9} {'brute (s)':>10} {'ratio':>8} {'render fwd':>10} {'bwd':>7}"
    print(header)
    last = None
    for faces_wanted in (5_000, 50_000):
        vertices, faces = _sphere(faces_wanted)
        for size in (256, 512):
            cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.6]), 50.0, size)
            pix, z = cams.project(vertices)
            ours = _time(lambda: rasterize(pix, z, faces, size, size), args.repeats)  # noqa: B023
            subset = torch.randperm(size * size, generator=g)[: args.subset]
            t = time.perf_counter()
            ref = rasterize_brute_force(pix, z, faces, size, size, pixels=subset)
            brute = (time.perf_counter() - t) * (size * size) / subset.numel()
            ids = rasterize(pix, z, faces, size, size).view(1, -1)[:, subset]
            if not torch.equal(ids, ref):
                raise RuntimeError("binned and brute-force face ids differ")
            v = vertices.clone().requires_grad_(True)
            colors = torch.rand(vertices.shape, generator=g)
            t = time.perf_counter()
            out = render_mesh(v, faces, cams, colors=colors)
            fwd = time.perf_counter() - t
            t = time.perf_counter()
            out.rgb.sum().backward()
            bwd = time.perf_counter() - t
            print(f"{faces.shape[0]:>7} {size:>4}x{size:<4} {ours:>9.4f} {brute:>10.2f} {brute / ours:>7.0f}x "
                  f"{fwd:>10.3f} {bwd:>7.3f}")
            last = (ours, brute)
    print(PEER_NOTE)
    print(peak_rss_line(), flush=True)
    ours, brute = last
    print(f"mesh_raster: ours={ours:.4f} baseline={brute:.2f} ratio={brute / ours:.0f} peer=none")


if __name__ == "__main__":
    main()
