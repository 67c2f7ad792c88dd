"""Export cost: marching cubes + cleanup + unwrap + bake at 128^3 and 256^3.

Compares, in the same run, our recipe (decimate to a face budget, then xatlas-unwrap and bake) with
the baseline (unwrap and bake the full marching-cubes mesh, as threestudio's exporter does).
Last line: ``export: ours=<s> baseline=<s> ratio=<baseline/ours>`` at the largest resolution.

Usage: python benchmarks/export.py [--resolutions 128 256] [--target-faces 20000] [--texture 1024]
"""

from __future__ import annotations

import argparse
import time

import torch

from lift3d.data import procedural_object
from lift3d.export import clean_mesh, decimate, extract_mesh
from lift3d.export.uv_bake import textured_mesh


def albedo(p: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.4 * torch.sin(6.0 * p)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--target-faces", type=int, default=20000)
    ap.add_argument("--texture", type=int, default=1024)
    ap.add_argument("--family", default="mushroom")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    obj = procedural_object(args.family, "red")
    h = obj.bounding_radius() * 1.05
    aabb = (-h, -h, -h, h, h, h)
    print("| res | MC faces | extract s | clean s | decimate s | unwrap+bake (decimated) s | unwrap+bake (full) s |")
    print("|---|---|---|---|---|---|---|")
    ours = base = 0.0
    for res in args.resolutions:
        raw, t_mc = timed(extract_mesh, obj.sdf, aabb, res, kind="sdf")
        cleaned, t_clean = timed(clean_mesh, raw)
        low, t_dec = timed(decimate, cleaned, args.target_faces)
        _, t_low = timed(textured_mesh, low, albedo, args.texture)
        _, t_full = timed(textured_mesh, cleaned, albedo, args.texture)
        ours, base = t_mc + t_clean + t_dec + t_low, t_mc + t_clean + t_full
        print(f"| {res}^3 | {len(raw.faces)} | {t_mc:.2f} | {t_clean:.2f} | {t_dec:.2f} | {t_low:.2f} | {t_full:.2f} |")
    print(f"export: ours={ours:.2f}s baseline={base:.2f}s ratio={base / ours:.2f}")


if __name__ == "__main__":
    main()
