"""Volume rendering throughput with and without occupancy-grid empty-space skipping.

A procedural object is baked into a density grid; the same renderer settings draw the same views
with skipping off (baseline) and on (ours). The script checks the images agree (max pixel difference)
and reports rays/s and field samples/s for each; forward only and forward + backward.

Peer: ``benchmarks/peer_nerfacc.py``, nerfacc's CPU-capable volume-rendering functions
(``render_weight_from_density`` batched, ``accumulate_along_rays`` over the flat list of in-box samples; its
packed ops and occupancy marcher need CUDA) on exactly the baseline's samples: same scene, same rays, and
its image is checked against the baseline's.

Usage: ``python benchmarks/volume.py [--size 64] [--views 4] [--samples 128] [--repeats 3]``.
Before the last line: ``volume-baseline: ratio=<ours/baseline>``. Last line:
``volume: ours=<rays/s with skipping> baseline=<rays/s without> peer=<rays/s nerfacc> ratio=<ours/peer>``.
"""

from __future__ import annotations

import argparse
import time

import torch
from _child import peak_rss_line
from peer_nerfacc import render_peer

from lift3d.cameras import Cameras
from lift3d.data import procedural_object
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig
from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation


def baked_grid(family: str, resolution: int, radius: float = 0.7) -> DensityGrid:
    """A density grid holding a procedural object: raw density +10 inside its SDF, -12 outside."""
    obj = procedural_object(family, "orange", seed=0)
    grid = DensityGrid(DensityGridConfig(resolution=resolution, radius=radius, activation=DensityActivation()))
    axis = torch.linspace(-radius, radius, resolution)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    sdf = obj.sdf(torch.stack([x, y, z], -1).reshape(-1, 3)).view(resolution, resolution, resolution)
    rgb = torch.tensor(obj.rgb).clamp(0.02, 0.98)
    with torch.no_grad():
        grid.density_voxels.copy_(torch.where(sdf < 0, 10.0, -12.0)[None, None])
        grid.color_voxels.copy_(torch.logit(rgb)[None, :, None, None, None].expand_as(grid.color_voxels))
    return grid


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--family", default="mushroom")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    grid = baked_grid(args.family, 64).to(dev)
    az = torch.linspace(0, 360, args.views + 1)[:-1]
    cams = Cameras.from_spherical(torch.full((args.views,), 20.0), az, torch.full((args.views,), 2.4), 40.0,
                                  args.size).to(dev)
    rays = args.views * args.size * args.size
    plain = VolumeRenderer(VolumeRendererConfig(num_samples=args.samples, backend="torch"))
    skip = VolumeRenderer(VolumeRendererConfig(num_samples=args.samples, occupancy=True, occupancy_resolution=64,
                                               backend="torch"))
    skip.update_occupancy(grid, torch.Generator(device=dev).manual_seed(0), samples_per_cell=2)
    renderers = {"baseline (no skipping)": plain, "ours (occupancy skipping)": skip}
    if dev.type == "cuda":
        renderers["ours, nerfacc CUDA marcher"] = VolumeRenderer(
            VolumeRendererConfig(num_samples=args.samples, occupancy=True, occupancy_resolution=64, backend="cuda"))
        renderers["ours, nerfacc CUDA marcher"].occupancy_grid = skip.occupancy_grid
    with torch.no_grad():
        images = {name: r(grid, cams) for name, r in renderers.items()}
    ref = images["baseline (no skipping)"].rgb
    print(f"{args.views} views x {args.size}^2 px = {rays} rays, {args.samples} samples/ray, device {dev}, "
          f"{torch.get_num_threads()} threads; occupied cells {skip.occupancy_grid.occupied_fraction:.3f}")
    print("| renderer | field samples | max pixel diff | fwd rays/s | fwd samples/s | fwd+bwd rays/s |")
    print("|---|---|---|---|---|---|")
    speed = {}
    for name, r in renderers.items():
        n = int(images[name].aux["num_samples"])
        diff = float((images[name].rgb - ref).abs().max())

        def fwd(r=r):
            with torch.no_grad():
                r(grid, cams)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def fwd_bwd(r=r):
            r(grid, cams).rgb.sum().backward()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        t_f, t_fb = timed(fwd, args.repeats), timed(fwd_bwd, args.repeats)
        speed[name] = rays / t_f
        print(f"| {name} | {n} | {diff:.2e} | {rays / t_f:,.0f} | {n / t_f:,.0f} | {rays / t_fb:,.0f} |")
    if dev.type == "cpu":
        with torch.no_grad():
            peer_rgb = render_peer(grid, cams, args.samples)[0]
        diff = float((peer_rgb - ref).abs().max())

        def peer_fwd():
            with torch.no_grad():
                render_peer(grid, cams, args.samples)

        def peer_fwd_bwd():
            render_peer(grid, cams, args.samples)[0].sum().backward()

        t_f, t_fb = timed(peer_fwd, args.repeats), timed(peer_fwd_bwd, args.repeats)
        speed["peer"] = rays / t_f
        print(f"| peer: nerfacc volrend (CPU), baseline's samples | - | {diff:.2e} | {rays / t_f:,.0f} | - | "
              f"{rays / t_fb:,.0f} |")
    print(peak_rss_line(), flush=True)
    ours, base = speed["ours (occupancy skipping)"], speed["baseline (no skipping)"]
    peer = speed.get("peer")
    print(f"volume-baseline: ratio={ours / base:.2f}")
    if peer is None:
        print("peer=none: nerfacc's CPU functions are timed on CPU runs only")
        print(f"volume: ours={ours:.0f} baseline={base:.0f} peer=none ratio=nan")
    else:
        print(f"volume: ours={ours:.0f} baseline={base:.0f} peer={peer:.0f} ratio={ours / peer:.2f}")


if __name__ == "__main__":
    main()
