"""``lift3d eval``: compare a generated or reconstructed asset with the procedural ground truth.

Metrics (for prompts that name a procedural family and colour, see :func:`lift3d.data.parse_caption`):

* silhouette IoU over 16 views (8 azimuths x elevations 10 and 40 degrees) with the prompted object;
* shape retrieval: the prompted family wins when the asset's silhouettes match its ground truth
  better (mean IoU) than the ground truth of every other family (IoU alone proves little: a sphere
  already scores about 0.74 against a cube);
* Chamfer distance between surface samples of the extracted mesh and of the ground-truth mesh,
  both divided by the ground truth's bounding radius (unit-normalised);
* colour: the nearest palette colour of the mean albedo over covered pixels.

Ground truth objects are the families' canonical shapes (``variation=0``, extent 1): a prompt names a family,
not an instance. When the asset was made from a known instance (``lift3d reconstruct`` of a held-out object,
``truth=``), that instance is the prompted family's ground truth and the other families compete with their
canonical shapes scaled to the instance's extent. Measured why (docs/reconstruct.md): against canonical
shapes of extent 1, the 28 held-out objects' own renders -- perfect reconstructions -- are retrieved only
71 % of the time (a short cylinder is nearer the canonical sphere), so that measure cannot reach 90 %.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tyro.conf import Positional

from lift3d.cameras import Cameras
from lift3d.types import LiftError

if TYPE_CHECKING:
    from lift3d.data.objects import ProceduralObject

EVAL_ELEVATIONS = (10.0, 40.0)
EVAL_AZIMUTHS = 8


def eval_cameras(resolution: int = 64, distance: float = 2.75, fov: float = 40.0) -> Cameras:
    """The 16 evaluation cameras."""
    el = torch.tensor(EVAL_ELEVATIONS).repeat_interleave(EVAL_AZIMUTHS)
    az = (torch.arange(EVAL_AZIMUTHS) * (360.0 / EVAL_AZIMUTHS) + 22.5).repeat(len(EVAL_ELEVATIONS))
    return Cameras.from_spherical(el, az, torch.full_like(el, distance), fov, resolution)


def silhouette_iou(a: torch.Tensor, b: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean over views of IoU between ``alpha > threshold`` masks ``[B, H, W, 1]``."""
    ma, mb = a > threshold, b > threshold
    inter = (ma & mb).flatten(1).sum(1).float()
    union = (ma | mb).flatten(1).sum(1).float().clamp_min(1)
    return float((inter / union).mean())


def chamfer(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between two point sets ``[N, 3]``, ``[M, 3]``."""
    a, b = torch.as_tensor(points_a, dtype=torch.float32), torch.as_tensor(points_b, dtype=torch.float32)
    d = torch.cdist(a, b)
    return float(0.5 * (d.min(1).values.mean() + d.min(0).values.mean()))


@dataclass
class EvalReport:
    prompt: str
    family: str
    colour: str
    iou: float
    """Silhouette IoU with the prompted object."""
    retrieved: str
    """Family whose ground truth the silhouettes match best."""
    retrieval_correct: bool
    iou_per_family: dict[str, float]
    chamfer: float | None
    predicted_colour: str
    colour_correct: bool
    mean_albedo: list[float]


def ground_truth(family: str, colour: str, extent: float = 1.0):
    """The canonical object of ``family`` (``variation=0``) whose largest side is ``extent``."""
    from lift3d.data import procedural_object

    return procedural_object(family, colour, seed=0, extent=extent, variation=0.0)


@functools.lru_cache(maxsize=64)
def _canonical_alpha(family: str, colour: str, extent: float, resolution: int) -> torch.Tensor:
    """Alpha of :func:`ground_truth` over the evaluation cameras, sphere-traced once per process (every
    evaluated asset of a batch compares with the same canonical shapes; callers only read it)."""
    from lift3d.data import render_object

    return render_object(ground_truth(family, colour, extent), eval_cameras(resolution)).alpha


@torch.no_grad()
def evaluate_asset(prompt: str, alpha_fn, albedo_fn, mesh=None, resolution: int = 64, samples: int = 4096,
                   seed: int = 0, truth: ProceduralObject | None = None) -> EvalReport:
    """Evaluate an asset given its renderers.

    Args:
        prompt: the prompt it was made from (must name a procedural family and colour).
        alpha_fn: ``Cameras -> [B, H, W, 1]`` accumulated opacity.
        albedo_fn: ``Cameras -> [B, H, W, 3]`` unlit albedo over black (premultiplied by alpha).
        mesh: optional extracted ``trimesh.Trimesh`` for the Chamfer distance.
        truth: the instance the asset was made from (image-to-3D of a known object), else None: the
            prompted family's canonical shape. With it, the other families are scaled to its extent.
    """
    from lift3d.data import FAMILIES, nearest_colour, parse_caption, render_object

    family, colour = parse_caption(prompt)
    if family is None or colour is None:
        raise LiftError(f"cannot evaluate {prompt!r}: it names no procedural shape family and colour "
                        f"(e.g. 'a red cube'); evaluation needs a ground truth")
    if truth is not None and truth.family != family:
        raise LiftError(f"prompt {prompt!r} names {family}, but the ground-truth object is a {truth.family}")
    extent = 1.0 if truth is None else truth.extent()
    cams = eval_cameras(resolution)
    alpha = alpha_fn(cams).cpu()
    ious = {f: silhouette_iou(alpha, render_object(truth, cams).alpha if truth is not None and f == family
                              else _canonical_alpha(f, colour, extent, resolution)) for f in FAMILIES}
    retrieved = max(ious, key=ious.__getitem__)
    albedo = albedo_fn(cams).cpu()
    cover = alpha.sum().clamp_min(1e-6)
    mean_albedo = (albedo.reshape(-1, 3).sum(0) / cover).clamp(0, 1)
    predicted = nearest_colour(mean_albedo)[0]
    cd = None
    if mesh is not None and len(mesh.faces):
        gt = truth if truth is not None else ground_truth(family, colour)
        gt_mesh = gt.mesh()
        np.random.seed(seed)
        pa = np.asarray(mesh.sample(samples))
        pb = np.asarray(gt_mesh.sample(samples))
        cd = chamfer(pa, pb) / gt.bounding_radius()
    return EvalReport(prompt, family, colour, ious[family], retrieved, retrieved == family, ious, cd, predicted,
                      predicted == colour, mean_albedo.tolist())


def evaluate_run(run_dir: Path, out: Path | None = None) -> EvalReport:
    """Evaluate a generate run folder; writes ``eval.json`` beside it (or to ``out``)."""
    from lift3d.pipelines.load import load_generate_run
    from lift3d.runs import atomic_write_text

    cfg, rig = load_generate_run(run_dir)
    report = evaluate_asset(cfg.prompt, lambda c: rig.render_albedo(c).alpha, lambda c: rig.render_albedo(c).rgb,
                            rig.mesh())
    atomic_write_text(out or Path(run_dir) / "eval.json", json.dumps(asdict(report), indent=2) + "\n")
    return report


@dataclass(frozen=True)
class EvalConfig:
    """Evaluate runs of ``lift3d generate`` against the procedural ground truth."""

    runs: Positional[tuple[Path, ...]]
    """Run folders to evaluate (``lift3d eval RUN [RUN ...]``)."""
    out: Path | None = None
    """Summary JSON (default: print only); each run also gets its own eval.json."""


def main(argv: list[str], prog: str = "lift3d eval") -> None:
    from lift3d.errors import parse_args

    cfg = parse_args(EvalConfig, argv, prog)
    reports = [evaluate_run(r) for r in cfg.runs]
    for r, path in zip(reports, cfg.runs):
        cd = "n/a" if r.chamfer is None else f"{r.chamfer:.4f}"
        print(f"{path}: iou {r.iou:.3f}  retrieved {r.retrieved} ({'ok' if r.retrieval_correct else 'WRONG'})  "
              f"chamfer {cd}  colour {r.predicted_colour} ({'ok' if r.colour_correct else 'WRONG'})")
    n = len(reports)
    summary = {"runs": n, "retrieval": sum(r.retrieval_correct for r in reports) / n,
               "mean_iou": sum(r.iou for r in reports) / n, "colour": sum(r.colour_correct for r in reports) / n,
               "reports": [asdict(r) for r in reports]}
    print(f"retrieval {summary['retrieval']:.0%}  mean IoU {summary['mean_iou']:.3f}  colour {summary['colour']:.0%}")
    if cfg.out is not None:
        from lift3d.runs import atomic_write_text

        atomic_write_text(cfg.out, json.dumps(summary, indent=2) + "\n")
