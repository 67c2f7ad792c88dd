"""What mean IoU a perfect sampler of the procedural world scores in ``benchmarks/generate_quality.py``.

``lift3d eval`` compares a text-to-3D result with the prompted family's *canonical* shape (extent 1), while
"a red table" is any table of the world: its instances vary in proportions and in size (extent 0.85-1.15) by
seed. This renders real instances (seeds 1..N of each benchmark family, exactly, no model involved) over the same
16 views at 64 px and scores them as ``evaluate_asset`` does:

* ``instances``: each instance as drawn, what a generator that reproduces the data distribution perfectly scores;
* ``unit size``: each instance at extent 1, what ``--init.normalize-extent 1`` does to a lift;
* ``majority of K``: the per-pixel majority of the silhouettes of K instances (consecutive seeds), as drawn and
  at unit size: the target of the consensus term (lift3d/pipelines/terms/consensus.py) if every lift were exact.

Usage: ``python benchmarks/generate_iou_ceiling.py [--seeds 16] [--majority 4]``.
Last line: ``generate_iou_ceiling: instances=<IoU> unit_size=<IoU> majority=<IoU of K at unit size> target=0.85
ratio=<majority / instances>``.
"""

from __future__ import annotations

import argparse

import torch

from lift3d.data import procedural_object, render_object
from lift3d.pipelines.evaluate import _canonical_alpha, eval_cameras, silhouette_iou
from lift3d.pipelines.terms.consensus import majority

FAMILIES = ("cube", "sphere", "cone", "torus", "cylinder", "pyramid", "capsule", "octahedron", "mushroom", "table")
"""The families of benchmarks/generate_quality.py's ten prompts."""
TARGET = 0.85


def majority_iou(alphas: torch.Tensor, canonical: torch.Tensor, k: int) -> float:
    """Mean IoU with ``canonical`` of the majority silhouettes of consecutive groups of ``k`` of ``alphas [N, ...]``."""
    groups = [alphas[i:i + k] for i in range(0, len(alphas) - k + 1, k)]
    return sum(silhouette_iou(majority(g), canonical) for g in groups) / len(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--majority", type=int, default=4)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    if not 1 <= args.majority <= args.seeds:
        parser.error("--majority must be between 1 and --seeds")
    cams = eval_cameras(args.resolution)
    columns = ("instances", "unit size", f"majority of {args.majority}", f"majority of {args.majority} (unit size)")
    print(f"{'family':12s} " + "  ".join(f"{c:>24s}" for c in columns))
    table = []
    for family in FAMILIES:
        canonical = _canonical_alpha(family, "red", 1.0, args.resolution)
        seeds = range(1, args.seeds + 1)
        drawn = torch.stack([render_object(procedural_object(family, "red", seed=s), cams).alpha for s in seeds])
        unit = torch.stack([render_object(procedural_object(family, "red", seed=s, extent=1.0), cams).alpha
                            for s in seeds])
        row = (sum(silhouette_iou(a, canonical) for a in drawn) / len(drawn),
               sum(silhouette_iou(a, canonical) for a in unit) / len(unit),
               majority_iou(drawn, canonical, args.majority), majority_iou(unit, canonical, args.majority))
        table.append(row)
        print(f"{family:12s} " + "  ".join(f"{x:24.3f}" for x in row), flush=True)
    means = [sum(r[i] for r in table) / len(table) for i in range(len(columns))]
    print(f"{'mean':12s} " + "  ".join(f"{x:24.3f}" for x in means))
    print(f"generate_iou_ceiling: instances={means[0]:.3f} unit_size={means[1]:.3f} majority={means[3]:.3f} "
          f"target={TARGET} ratio={means[3] / means[0]:.3f}")


if __name__ == "__main__":
    main()
