"""Tile-binned splat rasterizer (ours, torch backend) vs the dense gsplat-based reference, on CPU.

Both render the same image (checked on the reference's rows). Scenes: N anisotropic Gaussians in a unit
ball with SH degree 3 and varied opacity, one camera at distance 3 (50 deg field of view). The dense
reference (every pixel against every visible Gaussian, gsplat's pure-torch projection, checkpointed
pixel chunks) is timed on a band of ``--rows`` image rows through the image centre and extrapolated
linearly to the full image: its cost is exactly linear in the number of pixels (it projects and culls
with the full camera), and the full run would take tens of minutes. Each measurement runs in a fresh
process so peak memory (``ru_maxrss`` growth during one forward + backward) is per method.

The reference's working set is about 64-80 bytes per (pixel, visible Gaussian) pair of one checkpointed
pixel chunk, so ``--ref-chunk`` (pixels per chunk) defaults to ``--ref-pairs`` / N: 2^25 pairs, 2-3 GiB,
whatever N and ``--rows`` are (a 4096-pixel chunk at 100k Gaussians needed ~25 GiB and was OOM-killed).
The default run peaks at ~3.3 GiB (largest child; measured, see docs/gaussians.md).
A child that dies (OOM killer, signal, non-zero exit, no result) stops the run with one line naming it
(see ``benchmarks/_child.py``). Before the last line, the peak RSS of this process and of the largest
child is printed.

Usage: ``python benchmarks/gaussians.py [--repeats 3] [--rows 16] [--threads 1] [--ref-chunk PIXELS]``.
Last line: ``gaussians: ours=<s> reference=<s> ratio=<x> max_abs_diff=<d>`` (forward + backward, 10k Gaussians
at 256x256, or the last row measured when ``--counts``/``--sizes`` leave that out).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from _child import peak_rss_line, run_in_child


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


def _measure(method: str, n: int, size: int, repeats: int, rows: int, threads: int, chunk: int):
    """Child process: time forward and backward; returns the times, peak RSS growth and the image rows."""
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
        fn, scale = (lambda: render_dense_reference(scene, cams, pixel_chunk=chunk, rows=band)), size / rows
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
    return statistics.median(fwd) * scale, statistics.median(bwd) * scale, peak_mb, image.numpy()


def ref_chunk(n: int, pairs: int) -> int:
    """Pixels per checkpointed chunk of the dense reference: at most ``pairs`` (pixel, Gaussian) pairs."""
    return max(1, pairs // max(n, 1))


def run(method: str, n: int, size: int, repeats: int, rows: int, threads: int, chunk: int):
    """One measurement in a fresh spawned process; a dead child exits the benchmark with one clear line."""
    if method == "ours":
        what, hint = f"the ours child ({n} Gaussians, {size}x{size})", "rerun with fewer --counts or smaller --sizes"
    else:
        what = f"the dense-reference child ({n} Gaussians, {size}x{size}, {rows} rows, {chunk}-pixel chunks)"
        hint = f"rerun with --ref-chunk {max(1, chunk // 4)} (or --ref-pairs {max(1, chunk * n // 4)})"
    return run_in_child(_measure, method, n, size, repeats, rows, threads, chunk, what=what, hint=hint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=16, help="image rows rendered by the dense reference")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both methods)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--ref-pairs", type=int, default=2**25,
                        help="(pixel, Gaussian) pairs per reference chunk, 64-80 bytes each (default 2^25, 2-3 GiB)")
    parser.add_argument("--ref-chunk", type=int, default=None,
                        help="pixels per checkpointed reference chunk (default: --ref-pairs / N)")
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
            chunk = args.ref_chunk or ref_chunk(n, args.ref_pairs)
            of, ob, om, oimg = run("ours", n, size, args.repeats, args.rows, args.threads, chunk)
            rf, rb, rm, rimg = run("reference", n, size, args.repeats, args.rows, args.threads, chunk)
            diff = float(np.abs(oimg - rimg).max())
            print(
                f"{n:>7} {size:>3}x{size:<4} {of:>9.3f} {ob:>7.3f} {om:>6.0f} {rf:>9.2f} {rb:>8.2f} {rm:>6.0f} "
                f"{rf / of:>5.0f}x {(rf + rb) / (of + ob):>5.0f}x {diff:>10.1e}",
                flush=True,
            )
            if last is None or last[3] or (n, size) == (10_000, 256):  # 10k at 256, else the latest row
                last = (of + ob, rf + rb, diff, (n, size) != (10_000, 256))
    print(peak_rss_line(), flush=True)
    if last is not None:
        ours, ref, diff, _ = last
        print(f"gaussians: ours={ours:.3f} reference={ref:.2f} ratio={ref / ours:.0f} max_abs_diff={diff:.1e}")


if __name__ == "__main__":
    main()
