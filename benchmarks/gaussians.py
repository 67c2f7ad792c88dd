"""Tile-binned splat rasterizer (ours, torch backend) vs gsplat's own torch pipeline (the peer), on CPU.

Peer (default): ``benchmarks/peer_gsplat.py``, gsplat 1.5.3's pure-torch reference (``gsplat.cuda._torch_impl``:
projection with the 0.3 px^2 low-pass, SH, ``_isect_tiles``/``_isect_offset_encode`` binning) plus a tile-by-tile
front-to-back compositing written from gsplat's CUDA kernel (its torch ``_rasterize_to_pixels`` needs a CUDA
kernel); same scene, same camera, same seven channels. Each method runs in a fresh process; the full images
are compared (max abs pixel difference of rgb) and the peer's forward is also timed stage by stage.

``--dense`` adds the older comparison first: the dense gsplat-based reference. Both render the same image (checked on the reference's rows). Scenes: N anisotropic Gaussians in a unit
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

Usage: ``python benchmarks/gaussians.py [--repeats 3] [--threads 1] [--dense [--rows 16] [--ref-chunk PIXELS]]``.
With ``--dense``, the dense table ends with ``gaussians-dense: ours=<s> reference=<s> ratio=<x> max_abs_diff=<d>``.
Last line: ``gaussians: ours=<s> peer=<s> ratio=<peer/ours> max_abs_diff=<d>`` (forward + backward, 10k Gaussians
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
    band = band_rows(size, rows)
    stages: dict = {}
    if method == "ours":
        render = GaussianRenderer()
        fn, scale = (lambda: render(scene, cams)), 1.0
    elif method == "peer":
        from types import SimpleNamespace

        from peer_gsplat import render_peer

        def fn():
            return SimpleNamespace(rgb=render_peer(scene, cams, timings=stages)[0])

        scale = 1.0
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
    image = out.rgb.detach()  # ours and peer: the full image; dense reference: its band of rows
    result = statistics.median(fwd) * scale, statistics.median(bwd) * scale, peak_mb, image.numpy()
    return (*result, dict(stages)) if method == "peer" else result


def ref_chunk(n: int, pairs: int) -> int:
    """Pixels per checkpointed chunk of the dense reference: at most ``pairs`` (pixel, Gaussian) pairs."""
    return max(1, pairs // max(n, 1))


def run(method: str, n: int, size: int, repeats: int, rows: int, threads: int, chunk: int):
    """One measurement in a fresh spawned process; a dead child exits the benchmark with one clear line."""
    if method in ("ours", "peer"):
        what = f"the {method} child ({n} Gaussians, {size}x{size})"
        hint = "rerun with fewer --counts or smaller --sizes"
    else:
        what = f"the dense-reference child ({n} Gaussians, {size}x{size}, {rows} rows, {chunk}-pixel chunks)"
        hint = f"rerun with --ref-chunk {max(1, chunk // 4)} (or --ref-pairs {max(1, chunk * n // 4)})"
    return run_in_child(_measure, method, n, size, repeats, rows, threads, chunk, what=what, hint=hint)


def band_rows(size: int, rows: int) -> tuple[int, int]:
    """The dense reference's band of image rows through the centre."""
    return size // 2 - rows // 2, size // 2 - rows // 2 + rows


def peer_line(ours: float, peer: float, diff: float) -> str:
    """The benchmark's last line (forward + backward seconds of each, max abs rgb difference)."""
    return f"gaussians: ours={ours:.3f} peer={peer:.3f} ratio={peer / ours:.2f} max_abs_diff={diff:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats", type=int, default=None, help="repeats of the gsplat peer (default --repeats)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (all methods)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dense", action="store_true", help="also run the dense-reference table first")
    parser.add_argument("--rows", type=int, default=16, help="image rows rendered by the dense reference")
    parser.add_argument("--ref-pairs", type=int, default=2**25,
                        help="(pixel, Gaussian) pairs per reference chunk, 64-80 bytes each (default 2^25, 2-3 GiB)")
    parser.add_argument("--ref-chunk", type=int, default=None,
                        help="pixels per checkpointed reference chunk (default: --ref-pairs / N)")
    args = parser.parse_args()
    import numpy as np
    import torch

    peer_repeats = args.peer_repeats or args.repeats
    ours_runs = {}
    if args.dense:
        print(
            f"torch {torch.__version__}, {args.threads} thread(s), CPU; dense reference timed on {args.rows} rows, "
            "extrapolated"
        )
        print(
            f"{'N':>7} {'size':>8} {'ours fwd':>9} {'bwd':>7} {'MB':>6} {'ref fwd':>9} {'bwd':>8} {'MB':>6} "
            f"{'fwd x':>6} {'f+b x':>6} {'max |diff|':>10}"
        )
        last = None
        for n in args.counts:
            for size in args.sizes:
                chunk = args.ref_chunk or ref_chunk(n, args.ref_pairs)
                ours_runs[n, size] = of, ob, om, oimg = run("ours", n, size, args.repeats, args.rows, args.threads, chunk)
                rf, rb, rm, rimg = run("reference", n, size, args.repeats, args.rows, args.threads, chunk)
                r0, r1 = band_rows(size, args.rows)
                diff = float(np.abs(oimg[:, r0:r1] - rimg).max())
                print(
                    f"{n:>7} {size:>3}x{size:<4} {of:>9.3f} {ob:>7.3f} {om:>6.0f} {rf:>9.2f} {rb:>8.2f} {rm:>6.0f} "
                    f"{rf / of:>5.0f}x {(rf + rb) / (of + ob):>5.0f}x {diff:>10.1e}",
                    flush=True,
                )
                if last is None or last[3] or (n, size) == (10_000, 256):  # 10k at 256, else the latest row
                    last = (of + ob, rf + rb, diff, (n, size) != (10_000, 256))
        if last is not None:
            ours, ref, diff, _ = last
            print(f"gaussians-dense: ours={ours:.3f} reference={ref:.2f} ratio={ref / ours:.0f} max_abs_diff={diff:.1e}")

    print(
        f"torch {torch.__version__}, {args.threads} thread(s), CPU; peer: gsplat torch reference "
        f"(gsplat.cuda._torch_impl) + tile compositing from its CUDA kernel; times in s (median of "
        f"{args.repeats} ours, {peer_repeats} peer); peer stages = its last forward"
    )
    print(
        f"{'N':>7} {'size':>8} {'ours fwd':>9} {'bwd':>7} {'MB':>6} {'peer fwd':>9} {'bwd':>8} {'MB':>6} "
        f"{'fwd x':>6} {'f+b x':>6} {'max |diff|':>10}  peer stages (project, sh, isect, composite)"
    )
    last = None
    for n in args.counts:
        for size in args.sizes:
            of, ob, om, oimg = ours_runs.get((n, size)) or run("ours", n, size, args.repeats, args.rows, args.threads, 0)
            pf, pb, pm, pimg, st = run("peer", n, size, peer_repeats, args.rows, args.threads, 0)
            diff = float(np.abs(oimg - pimg).max())
            stages = ", ".join(f"{st.get(k, float('nan')):.3f}" for k in ("project", "features", "isect", "composite"))
            print(
                f"{n:>7} {size:>3}x{size:<4} {of:>9.3f} {ob:>7.3f} {om:>6.0f} {pf:>9.3f} {pb:>8.3f} {pm:>6.0f} "
                f"{pf / of:>5.1f}x {(pf + pb) / (of + ob):>5.1f}x {diff:>10.1e}  {stages}",
                flush=True,
            )
            if last is None or last[3] or (n, size) == (10_000, 256):  # 10k at 256, else the latest row
                last = (of + ob, pf + pb, diff, (n, size) != (10_000, 256))
    print(peak_rss_line(), flush=True)
    if last is not None:
        print(peer_line(*last[:3]))


if __name__ == "__main__":
    main()
