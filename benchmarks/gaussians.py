"""Tile-binned splat rasterizer (ours, torch backend) vs the dense gsplat-based reference, on CPU.

Both render the same image (checked on the reference's rows). Scenes: N anisotropic Gaussians in a unit
ball with SH degree 3 and varied opacity, one camera at distance 3 (50 deg field of view). The dense
reference (every pixel against every visible Gaussian, gsplat's pure-torch projection, checkpointed
pixel chunks) is timed on a band of ``--rows`` image rows through the image centre and extrapolated
linearly to the full image: its cost is exactly linear in the number of pixels (it projects and culls
with the full camera), and the full run would take tens of minutes. Each measurement runs in a fresh
process so peak memory (``ru_maxrss`` growth during one forward + backward) is per method.

Usage: ``python benchmarks/gaussians.py [--repeats 3] [--rows 16] [--threads 1]``. Last line:
``gaussians: ours=<s> reference=<s> ratio=<x>`` (forward + backward, 10k Gaussians at 256x256).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time


def _scene_and_camera(n: int, size: int):
    import torch

    from lift3d.cameras import Cameras
    from lift3d.scenes import Gaussians

    g = torch.Generator().manual_seed(0)
    scene = Gaussians.random_ball(n, 1.0, g, sh_degree=3, opacity=0.5)
    with torch.no_grad():
        scene.params["scales"].add_(0.5 * torch.randn(n, 3, generator=g))
        scene.params["opacities"].copy_(1.5 * torch.randn(n, generator=g))
        scene.params["shN"].copy_(0.2 * torch.randn(scene.params["shN"].shape, generator=g))
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([3.0]), 50.0, size)
    return scene, cams


def _measure(method: str, n: int, size: int, repeats: int, rows: int, threads: int, queue) -> None:
    """Child process: time forward and backward, report peak RSS growth and the image rows."""
    import torch

    from lift3d.renderers import GaussianRenderer
    from lift3d.renderers._splat_dense_reference import render_dense_reference

    torch.set_num_threads(threads)
    scene, cams = _scene_and_camera(n, size)
    band = (size // 2 - rows // 2, size // 2 - rows // 2 + rows)
    if method == "ours":
        render = GaussianRenderer()
        fn, scale = (lambda: render(scene, cams)), 1.0
    else:
        fn, scale = (lambda: render_dense_reference(scene, cams, rows=band)), size / rows
        repeats = 1
    fwd, bwd = [], []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn()  # warm-up
    out.rgb.sum().backward()
    for _ in range(repeats):
        scene.zero_grad()
        t = time.perf_counter()
        out = fn()
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        out.rgb.sum().backward()
        bwd.append(time.perf_counter() - t)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    image = out.rgb.detach()[:, band[0] : band[1]] if method == "ours" else out.rgb.detach()
    queue.put((statistics.median(fwd) * scale, statistics.median(bwd) * scale, peak_mb, image.numpy()))


def run(method: str, n: int, size: int, repeats: int, rows: int, threads: int):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(method, n, size, repeats, rows, threads, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=16, help="image rows rendered by the dense reference")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both methods)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    import numpy as np
    import torch

    print(
        f"torch {torch.__version__}, {args.threads} thread(s), CPU; reference timed on {args.rows} rows, extrapolated"
    )
    print(
        f"{'N':>7} {'size':>8} {'ours fwd':>9} {'bwd':>7} {'MB':>6} {'ref fwd':>9} {'bwd':>8} {'MB':>6} "
        f"{'fwd x':>6} {'f+b x':>6} {'max |diff|':>10}"
    )
    last = None
    for n in args.counts:
        for size in args.sizes:
            of, ob, om, oimg = run("ours", n, size, args.repeats, args.rows, args.threads)
            rf, rb, rm, rimg = run("reference", n, size, args.repeats, args.rows, args.threads)
            diff = float(np.abs(oimg - rimg).max())
            print(
                f"{n:>7} {size:>3}x{size:<4} {of:>9.3f} {ob:>7.3f} {om:>6.0f} {rf:>9.2f} {rb:>8.2f} {rm:>6.0f} "
                f"{rf / of:>5.0f}x {(rf + rb) / (of + ob):>5.0f}x {diff:>10.1e}",
                flush=True,
            )
            if n == 10_000 and size == 256:
                last = (of + ob, rf + rb, diff)
    if last is not None:
        ours, ref, diff = last
        print(f"gaussians: ours={ours:.3f} reference={ref:.2f} ratio={ref / ours:.0f} max_abs_diff={diff:.1e}")


if __name__ == "__main__":
    main()
