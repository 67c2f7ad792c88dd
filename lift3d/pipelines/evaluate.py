"""``lift3d eval``: compare a generated or reconstructed asset with the procedural ground truth.

Metrics (for prompts that name a procedural family and colour, see :func:`lift3d.data.parse_caption`):

* silhouette IoU over 16 views (8 azimuths x elevations 10 and 40 degrees) with the prompted object;
* shape retrieval: the prompted family wins when the asset's silhouettes match its ground truth
  better (mean IoU) than the ground truth of every other family (IoU alone proves little: a sphere
  already scores about 0.74 against a cube);
* Chamfer distance between surface samples of the extracted mesh and of the ground-truth mesh,
  both divided by the ground truth's bounding radius (unit-normalised);
* colour: the nearest palette colour of the mean albedo over covered pixels;
* surface quality of the extracted mesh against the ground-truth mesh (:mod:`lift3d.pipelines.surface_metrics`):
  normal consistency (mean ``|cos|`` to the nearest ground-truth normals, both directions averaged) and
  lumpiness (integrated absolute mean curvature per sqrt(area), relative to the ground truth's, minus 1);
* across several runs of one prompt (different seeds), diversity (:mod:`lift3d.pipelines.diversity`):
  ``1 -`` mean pairwise silhouette IoU and mean pairwise Chamfer, in the summary of ``lift3d eval RUN RUN ...``.

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
from collections.abc import Sequence
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

from lift3d.pipelines.shape_metrics import EVAL_AZIMUTHS, EVAL_ELEVATIONS, chamfer, eval_cameras, silhouette_iou  # noqa: E402,F401


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
    normal_consistency: float | None = None
    """Mean |cos| between the mesh's normals and the nearest ground-truth normals, both ways (1 is best)."""
    lumpiness: float | None = None
    """Integrated |mean curvature| / sqrt(area) over the ground truth's, minus 1 (0: as smooth as the truth)."""


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
    cd = nc = lump = None
    if mesh is not None and len(mesh.faces):
        cd, nc, lump = _mesh_metrics(mesh, truth if truth is not None else ground_truth(family, colour), samples, seed)
    return EvalReport(prompt, family, colour, ious[family], retrieved, retrieved == family, ious, cd, predicted,
                      predicted == colour, mean_albedo.tolist(), nc, lump)


def _mesh_metrics(mesh, gt: ProceduralObject, samples: int, seed: int) -> tuple[float, float, float]:
    """Unit-normalised Chamfer, normal consistency and lumpiness of ``mesh`` against ``gt``'s mesh."""
    from lift3d.pipelines.surface_metrics import surface_quality

    gt_mesh = gt.mesh()
    np.random.seed(seed)
    pa = np.asarray(mesh.sample(samples))
    pb = np.asarray(gt_mesh.sample(samples))
    quality = surface_quality(mesh, gt_mesh, samples, seed)
    return chamfer(pa, pb) / gt.bounding_radius(), quality.normal_consistency, quality.lumpiness


@dataclass
class RunEvaluation:
    """A run's report plus what comparing runs with each other needs (:func:`evaluate_runs`)."""

    run: Path
    seed: int
    report: EvalReport
    alpha: torch.Tensor
    """``[16, H, W, 1]`` opacity over the evaluation cameras."""
    points: np.ndarray | None
    """Surface samples of the extracted mesh (None without one)."""


def evaluate_run_full(run_dir: Path, out: Path | None = None, samples: int = 4096) -> RunEvaluation:
    """:func:`evaluate_run`, keeping the evaluation-view alpha and mesh samples for diversity."""
    from lift3d.files import atomic_write_text
    from lift3d.pipelines.load import load_generate_run
    from lift3d.pipelines.surface_metrics import surface_samples

    cfg, rig = load_generate_run(run_dir)
    seen: list[torch.Tensor] = []

    def alpha_fn(cams: Cameras) -> torch.Tensor:
        seen.append(rig.render_albedo(cams).alpha.cpu())
        return seen[-1]

    mesh = rig.mesh()
    report = evaluate_asset(cfg.prompt, alpha_fn, lambda c: rig.render_albedo(c).rgb, mesh, samples=samples)
    atomic_write_text(out or Path(run_dir) / "eval.json", json.dumps(asdict(report), indent=2) + "\n")
    points = surface_samples(mesh, samples)[0] if mesh is not None and len(mesh.faces) else None
    return RunEvaluation(Path(run_dir), cfg.seed, report, seen[0], points)


def evaluate_run(run_dir: Path, out: Path | None = None) -> EvalReport:
    """Evaluate a generate run folder; writes ``eval.json`` beside it (or to ``out``)."""
    return evaluate_run_full(run_dir, out).report


def run_diversity(evaluations: Sequence[RunEvaluation]) -> dict[str, dict]:
    """Diversity (:mod:`lift3d.pipelines.diversity`) of each prompt evaluated in two or more runs, as JSON."""
    from lift3d.pipelines.diversity import diversity_by_prompt

    scales = [ground_truth(e.report.family, e.report.colour).bounding_radius() for e in evaluations]
    by_prompt = diversity_by_prompt([e.report.prompt for e in evaluations], [e.seed for e in evaluations],
                                    [e.alpha for e in evaluations], [e.points for e in evaluations], scales)
    return {prompt: asdict(d) for prompt, d in by_prompt.items()}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


@dataclass(frozen=True)
class EvalConfig:
    """Evaluate runs of ``lift3d generate`` against the procedural ground truth."""

    runs: Positional[tuple[Path, ...]]
    """Run folders to evaluate (``lift3d eval RUN [RUN ...]``)."""
    out: Path | None = None
    """Summary JSON (default: print only); each run also gets its own eval.json."""


def _line(r: EvalReport) -> str:
    def fmt(v: float | None, digits: int) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    return (f"iou {r.iou:.3f}  retrieved {r.retrieved} ({'ok' if r.retrieval_correct else 'WRONG'})  "
            f"chamfer {fmt(r.chamfer, 4)}  colour {r.predicted_colour} ({'ok' if r.colour_correct else 'WRONG'})  "
            f"normals {fmt(r.normal_consistency, 3)}  lumpiness {fmt(r.lumpiness, 3)}")


def main(argv: list[str], prog: str = "lift3d eval") -> None:
    from lift3d.errors import parse_args

    cfg = parse_args(EvalConfig, argv, prog)
    evaluations = [evaluate_run_full(r) for r in cfg.runs]
    reports = [e.report for e in evaluations]
    for r, path in zip(reports, cfg.runs):
        print(f"{path}: {_line(r)}")
    n = len(reports)
    summary = {"runs": n, "retrieval": sum(r.retrieval_correct for r in reports) / n,
               "mean_iou": sum(r.iou for r in reports) / n, "colour": sum(r.colour_correct for r in reports) / n,
               "reports": [asdict(r) for r in reports],
               "mean_normal_consistency": _mean([r.normal_consistency for r in reports]),
               "mean_lumpiness": _mean([r.lumpiness for r in reports]), "diversity": run_diversity(evaluations)}
    print(f"retrieval {summary['retrieval']:.0%}  mean IoU {summary['mean_iou']:.3f}  colour {summary['colour']:.0%}")
    for prompt, d in summary["diversity"].items():
        cd = "n/a" if d["chamfer"] is None else f"{d['chamfer']:.4f}"
        print(f"diversity of {prompt!r} over {d['runs']} runs: silhouette {d['silhouette']:.3f}  chamfer {cd}")
    if cfg.out is not None:
        from lift3d.files import atomic_write_text

        atomic_write_text(cfg.out, json.dumps(summary, indent=2) + "\n")
