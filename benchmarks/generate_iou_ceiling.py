"""What mean IoU a perfect sampler of the procedural world scores in ``benchmarks/generate_quality.py``.

``lift3d eval`` compares a text-to-3D result with the prompted family's *canonical* shape (extent 1), while
"a red table" is any table of the world: its instances vary in proportions by seed. This renders real
instances (seeds 1..N of each benchmark family, exactly, no model involved) over the same 16 views at 64 px
and scores them as ``evaluate_asset`` does. Their mean IoU is what a generator that reproduces the data
distribution perfectly would reach; a higher score needs results nearer the canonical proportions.

Usage: ``python benchmarks/generate_iou_ceiling.py [--seeds 8]``.
Last line: ``generate_iou_ceiling: instances=<mean IoU> target=0.85 ratio=<instances / target>``.
"""

from __future__ import annotations

import argparse

import torch

from lift3d.data import procedural_object, render_object
from lift3d.pipelines.evaluate import _canonical_alpha, eval_cameras, silhouette_iou

FAMILIES = ("cube", "sphere", "cone", "torus", "cylinder", "pyramid", "capsule", "octahedron", "mushroom", "table")
"""The families of benchmarks/generate_quality.py's ten prompts."""
TARGET = 0.85


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    cams = eval_cameras(args.resolution)
    means = []
    for family in FAMILIES:
        canonical = _canonical_alpha(family, "red", 1.0, args.resolution)
        ious = torch.tensor([silhouette_iou(render_object(procedural_object(family, "red", seed=s), cams).alpha,
                                            canonical) for s in range(1, args.seeds + 1)])
        means.append(float(ious.mean()))
        print(f"{family:12s} mean {ious.mean():.3f}  min {ious.min():.3f}  max {ious.max():.3f}", flush=True)
    mean = sum(means) / len(means)
    print(f"generate_iou_ceiling: instances={mean:.3f} target={TARGET} ratio={mean / TARGET:.3f}")


if __name__ == "__main__":
    main()
