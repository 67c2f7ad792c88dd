"""Where the seconds of ``lift3d generate`` go: one run of a preset under ``cProfile``, summed into phases.

    OMP_NUM_THREADS=2 python benchmarks/generate_profile.py --prompt "a red cube" --threads 2

First the run is timed without the profiler (wall seconds and peak RSS of the process: the numbers a user sees),
then repeated under ``cProfile`` and its cumulative times are summed into the phases below (the profiler's own
overhead inflates Python-heavy phases a little, so the split is reported as shares of the profiled total and
scaled to the unprofiled wall time). Phases do not overlap; "other" is the rest (argument handling, prior and
model loading, progress, the loop's own bookkeeping).

The last line is ``generate_profile: wall=... peak_rss_mb=... ratio=...`` with ratio = wall / 60 s, the issue's
per-prompt budget on 2 cores (below 1 is within it).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from lift3d.pipelines.generate import generate
from lift3d.pipelines.presets import PRESETS

PHASES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("candidates: prior samples (DDIM)", (("lift3d/pipelines/inits/sample.py", "candidate_images"),)),
    ("candidates: lift, score, consensus set", (("lift3d/pipelines/inits/sample.py", "sample_and_reconstruct"),)),
    ("guidance: prior UNet + loss", (("lift3d/pipelines/optimize.py", "_guidance_loss"),)),
    ("render the scene", (("lift3d/rigs/gaussians.py", "render"), ("lift3d/rigs/mesh.py", "render"))),
    ("consensus silhouettes", (("lift3d/pipelines/terms/consensus.py", "losses"),)),
    ("backward", (("torch/_tensor.py", "backward"),)),
    ("optimizer steps + densification", (("lift3d/rigs/base.py", "step"), ("lift3d/rigs/gaussians.py", "step"))),
    ("mesh extraction (refine start)", (("lift3d/rigs/gaussians.py", "mesh"),)),
    ("validation grids", (("lift3d/pipelines/outputs.py", "save_validation"),)),
    ("checkpoints", (("lift3d/runs.py", "save_checkpoint"),)),
    ("export: UV unwrap (xatlas)", (("lift3d/export/uv_bake.py", "unwrap_uv"),)),
    ("export: texture bake", (("lift3d/export/uv_bake.py", "bake_vertex_colors"), ("lift3d/export/uv_bake.py",
                                                                                     "bake_texture"))),
    ("export: write GLB/OBJ/PLY", (("lift3d/export/asset.py", "write_asset"),)),
    ("turntable video", (("lift3d/pipelines/outputs.py", "write_turntable"),)),
)
"""(phase, ((file suffix, function name), ...)); a phase nested in an earlier one is subtracted from it."""
NESTED = {"candidates: lift, score, consensus set": ("candidates: prior samples (DDIM)",)}


def cumulative(stats: pstats.Stats, keys: tuple[tuple[str, str], ...]) -> float:
    total = 0.0
    for (file, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if any(file.endswith(f) and name == n for f, n in keys):
            total += cum
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--prompt", default="a red cube")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="lift3d-profile-"))
    cfg = replace(PRESETS[args.preset], prompt=args.prompt, overwrite=True, quiet=True)

    start = time.perf_counter()
    generate(replace(cfg, output=out / "plain"))
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(generate, replace(cfg, output=out / "profiled"))
    profiled = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    seconds = {name: cumulative(stats, keys) for name, keys in PHASES}
    for name, inner in NESTED.items():
        seconds[name] -= sum(seconds[i] for i in inner)
    seconds["other"] = profiled - sum(seconds.values())
    print(f"| phase | seconds (scaled to the {wall:.1f} s unprofiled run) | share |")
    print("| --- | --- | --- |")
    for name, s in seconds.items():
        print(f"| {name} | {s * wall / profiled:.1f} | {100 * s / profiled:.0f} % |")
    print(f"generate_profile: preset={args.preset} threads={args.threads} wall={wall:.1f} profiled={profiled:.1f} "
          f"peak_rss_mb={peak_mb:.0f} ratio={wall / 60.0:.2f}", file=sys.stdout)


if __name__ == "__main__":
    main()
