"""Export cost: marching cubes + cleanup + unwrap + bake at 128^3 and 256^3.

Compares, in the same run, our recipe (decimate to a face budget, then xatlas-unwrap and bake) with
the baseline (unwrap and bake the full marching-cubes mesh, as threestudio's exporter does).
Last line: ``export: ours=<s> baseline=<s> ratio=<baseline/ours>`` at the largest resolution.

Usage: python benchmarks/export.py [--resolutions 128 256] [--target-faces 20000] [--texture 1024]
                                   [--baseline-timeout 600]

The baseline runs in a child process and is stopped after ``--baseline-timeout`` seconds (xatlas cannot be
interrupted in-process); a stopped baseline is reported with ``baseline_stopped=yes``: its time and the
ratio are then lower bounds. A baseline child that dies instead (OOM killer, signal, non-zero exit) stops
the run with one line naming it (``benchmarks/_child.py``). The peak RSS of this process and of the
baseline child is printed before the last line.
"""

from __future__ import annotations

import argparse
import time

import torch
from _child import ChildTimeout, peak_rss_line, run_in_child

from lift3d.data import procedural_object
from lift3d.export import clean_mesh, decimate, extract_mesh
from lift3d.export.uv_bake import textured_mesh


def albedo(p: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.4 * torch.sin(6.0 * p)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _full_bake(mesh, texture: int) -> float:
    return timed(textured_mesh, mesh, albedo, texture)[1]


def timed_with_timeout(mesh, texture: int, timeout: float) -> tuple[float, bool]:
    """Seconds to unwrap + bake ``mesh`` in a child; ``(timeout, True)`` when it had to be stopped.

    The child is spawned, not forked: a child forked from a parent that has used torch's OpenMP threads
    can deadlock (it did here with 2 threads: every baseline was "stopped" with the child idle). The time
    is measured inside the child (process start and imports excluded); ``timeout`` includes them.
    """
    try:
        return run_in_child(_full_bake, mesh, texture, timeout=timeout,
                            what=f"the baseline child (unwrap + bake of {len(mesh.faces)} faces)",
                            hint="rerun with smaller --resolutions or --texture"), False
    except ChildTimeout:
        return timeout, True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--target-faces", type=int, default=20000)
    ap.add_argument("--texture", type=int, default=1024)
    ap.add_argument("--family", default="mushroom")
    ap.add_argument("--baseline-timeout", type=float, default=600.0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    obj = procedural_object(args.family, "red")
    h = obj.bounding_radius() * 1.05
    aabb = (-h, -h, -h, h, h, h)
    print("| res | MC faces | extract s | clean s | decimate s | unwrap+bake (decimated) s | unwrap+bake (full) s |")
    print("|---|---|---|---|---|---|---|")
    ours = base = 0.0
    stopped = False
    for res in args.resolutions:
        raw, t_mc = timed(extract_mesh, obj.sdf, aabb, res, kind="sdf")
        cleaned, t_clean = timed(clean_mesh, raw)
        low, t_dec = timed(decimate, cleaned, args.target_faces)
        _, t_low = timed(textured_mesh, low, albedo, args.texture)
        t_full, stopped = timed_with_timeout(cleaned, args.texture, args.baseline_timeout)
        ours, base = t_mc + t_clean + t_dec + t_low, t_mc + t_clean + t_full
        full = f">{t_full:.0f} (stopped)" if stopped else f"{t_full:.2f}"
        print(f"| {res}^3 | {len(raw.faces)} | {t_mc:.2f} | {t_clean:.2f} | {t_dec:.2f} | {t_low:.2f} | {full} |", flush=True)
    print(peak_rss_line(), flush=True)
    note = " baseline_stopped=yes (baseline and ratio are lower bounds)" if stopped else ""
    print(f"export: ours={ours:.2f}s baseline={base:.2f}s{note} ratio={base / ours:.2f}")


if __name__ == "__main__":
    main()
