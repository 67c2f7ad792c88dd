"""Held-out evaluation of image-to-3D on the procedural world (numbers in docs/reconstruct.md).

For each held-out object (seeds >= :data:`lift3d.recon.data.HELDOUT_FIRST_SEED`, never trained on):
render the canonical input view, reconstruct, and measure

* novel-view PSNR: the Gaussians vs the sphere-traced object over the 16 views of
  :func:`lift3d.pipelines.evaluate.eval_cameras` at the training resolution (mean of per-view PSNRs);
* shape retrieval and silhouette IoU as :func:`lift3d.pipelines.evaluate.evaluate_asset` measures them
  (the object's caption is the prompt, the object itself its family's ground truth, the other families'
  canonical shapes at its extent; ``retrieval_canonical``: every family canonical at extent 1, as for prompts);
* Chamfer distance between the Gaussian centres (opacity > 0.1) and surface samples of the object's
  mesh, divided by the object's bounding radius (as ``evaluate_asset`` normalises it);
* F-score at 0.1 and 0.05 (``fscore_01``, ``fscore_005``) of the same point sets with distances divided by
  the bounding radius (Tatarchenko et al., "What Do Single-view 3D Reconstruction Networks Learn?", CVPR 2019).

Out of distribution (``--ood``, on by default): the same measures, except retrieval, on the 8 hand-built
objects of :func:`lift3d.data.ood.ood_objects` (never trained on; textured albedo, held-out primitive kinds).

``python -m lift3d.recon.evaluate --help`` prints the options.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lift3d.config import choice
from lift3d.pipelines.prior_specs import NovelViewPriorSpec
from lift3d.pipelines.reconstruct import REFINE, OptimizeConfig
from lift3d.recon.camera import input_camera
from lift3d.recon.data import HELDOUT_FIRST_SEED
from lift3d.scenes.gaussians import Gaussians

if TYPE_CHECKING:
    from lift3d.data.objects import ProceduralObject
    from lift3d.pipelines.evaluate import EvalReport


def heldout_objects(seeds_per_family: int, families: tuple[str, ...] = ()) -> list[tuple[str, str, int]]:
    """(family, colour, seed) of held-out objects; colours cycle through the palette."""
    from lift3d.data import FAMILIES, PALETTE

    fams = families or tuple(FAMILIES)
    out = []
    for i, f in enumerate(fams):
        for k in range(seeds_per_family):
            out.append((f, PALETTE[(i + 3 * k) % len(PALETTE)].name, HELDOUT_FIRST_SEED + k))
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over views of the PSNR between ``[B, H, W, 3]`` images in [0, 1]."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((-10 * torch.log10(mse)).mean())


FSCORE_THRESHOLDS: tuple[float, ...] = (0.1, 0.05)
"""F-score thresholds, in units of the object's bounding radius (row keys ``fscore_01``, ``fscore_005``)."""


def fscore(pred: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor, threshold: float,
           scale: float = 1.0) -> float:
    """F-score of point sets ``[N, 3]``, ``[M, 3]``: harmonic mean of precision (share of ``pred`` within
    ``threshold * scale`` of ``truth``) and recall (share of ``truth`` within it of ``pred``); 0 if both are 0."""
    a, b = torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(truth, dtype=torch.float32)
    d = torch.cdist(a, b) / scale
    precision = float((d.min(1).values < threshold).float().mean())
    recall = float((d.min(0).values < threshold).float().mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _fkey(threshold: float) -> str:
    return "fscore_" + f"{threshold:g}".replace(".", "")


@torch.no_grad()
def evaluate_object(predict: Callable[[torch.Tensor], Gaussians], family: str, colour: str, seed: int,
                    resolution: int = 32) -> dict:
    """Reconstruct one held-out object with ``predict`` (``[S, S, 4] -> Gaussians``) and measure it."""
    from lift3d.data import procedural_object

    obj = procedural_object(family, colour, seed=seed)
    return {"family": family, "colour": colour, "seed": seed, **measure_object(predict, obj, resolution)}


def evaluate_ood(predict: Callable[[torch.Tensor], Gaussians], resolution: int = 32) -> list[dict]:
    """:func:`measure_object` (no retrieval: they have no family) on every :func:`lift3d.data.ood.ood_objects` object."""
    from lift3d.data.ood import ood_objects

    return [{"object": o.family, **measure_object(predict, o, resolution, retrieval=False)} for o in ood_objects()]


@torch.no_grad()
def measure_object(predict: Callable[[torch.Tensor], Gaussians], obj: ProceduralObject, resolution: int = 32,
                   retrieval: bool = True) -> dict:
    """Reconstruct ``obj`` from its canonical input view with ``predict`` and measure it (module docstring);
    ``retrieval=False`` skips the retrieval measures (objects without a family)."""
    from lift3d.data import render_object
    from lift3d.pipelines.evaluate import chamfer, eval_cameras, silhouette_iou
    from lift3d.renderers.gaussians import GaussianRenderer

    ref = render_object(obj, input_camera(resolution))
    start = time.perf_counter()
    with torch.enable_grad():
        scene = predict(torch.cat([ref.rgb[0], ref.alpha[0]], -1))
    seconds = time.perf_counter() - start
    renderer = GaussianRenderer()
    cams = eval_cameras(resolution)
    pred = renderer(scene, cams)
    gt = render_object(obj, cams)
    keep = scene.opacities > 0.1
    pts = (scene.means[keep] if keep.sum() > 0 else scene.means).detach().numpy()
    surface = np.asarray(obj.mesh(48).sample(4096, seed=0))
    radius = obj.bounding_radius()
    row: dict = {"psnr": psnr(pred.rgb, gt.rgb), "iou": silhouette_iou(pred.alpha, gt.alpha)}
    if retrieval:
        black = renderer(scene, cams, torch.zeros(3))  # alpha and premultiplied colour for evaluate_asset
        report, canonical = retrievals(obj, black.alpha, black.rgb, resolution)
        row.update(retrieved=report.retrieved, retrieval_correct=report.retrieval_correct,
                   retrieval_canonical_correct=canonical.retrieval_correct)
    row["chamfer"] = chamfer(pts, surface) / radius
    row.update({_fkey(t): fscore(pts, surface, t, radius) for t in FSCORE_THRESHOLDS})
    return {**row, "seconds": seconds}


def retrievals(obj: ProceduralObject, alpha: torch.Tensor, albedo: torch.Tensor,
               resolution: int) -> tuple[EvalReport, EvalReport]:
    """``evaluate_asset`` of an asset of ``obj`` rendered over ``eval_cameras(resolution)`` (``alpha``, ``albedo``
    premultiplied over black), against the object itself and against the canonical shapes."""
    from lift3d.pipelines.evaluate import evaluate_asset

    def alpha_of(_cameras: object) -> torch.Tensor:
        return alpha

    def albedo_of(_cameras: object) -> torch.Tensor:
        return albedo

    return (evaluate_asset(obj.caption, alpha_of, albedo_of, resolution=resolution, truth=obj),
            evaluate_asset(obj.caption, alpha_of, albedo_of, resolution=resolution))


def ground_truth_retrieval(objects: list[tuple[str, str, int]], resolution: int = 32) -> dict:
    """Retrieval of the objects' own renders (a perfect reconstruction): the ceiling of both measures."""
    from lift3d.data import procedural_object, render_object
    from lift3d.pipelines.evaluate import eval_cameras

    hits = {"retrieval": 0, "retrieval_canonical": 0}
    for family, colour, seed in objects:
        obj = procedural_object(family, colour, seed=seed)
        own = render_object(obj, eval_cameras(resolution), background=(0.0, 0.0, 0.0))
        instance, canonical = retrievals(obj, own.alpha, own.aux["albedo"], resolution)
        hits["retrieval"] += instance.retrieval_correct
        hits["retrieval_canonical"] += canonical.retrieval_correct
    return {"objects": len(objects), **{k: v / len(objects) for k, v in hits.items()}}


def summarize(rows: list[dict]) -> dict:
    """Means over rows (retrieval and F-scores only where the rows have them)."""
    n = len(rows)
    out = {"objects": n}
    if rows and "retrieval_correct" in rows[0]:
        out.update(retrieval=sum(r["retrieval_correct"] for r in rows) / n,
                   retrieval_canonical=sum(r["retrieval_canonical_correct"] for r in rows) / n)
    keys = ["psnr", "iou", "chamfer", *(_fkey(t) for t in FSCORE_THRESHOLDS), "seconds"]
    out.update({k: sum(r[k] for r in rows) / n for k in keys if rows and k in rows[0]})
    return out


def print_shape_table(summary: dict[str, dict]) -> None:
    """Markdown table of PSNR, IoU, Chamfer and F-scores of each summary (in distribution next to OOD)."""
    print("| objects | n | novel-view PSNR (dB) | silhouette IoU | Chamfer / radius | F@0.1 | F@0.05 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k, s in summary.items():
        print(f"| {k} | {s['objects']} | {s['psnr']:.2f} | {s['iou']:.3f} | {s['chamfer']:.4f} | "
              f"{s['fscore_01']:.3f} | {s['fscore_005']:.3f} |")


@dataclass(frozen=True)
class EvaluateReconConfig:
    """Evaluate the reconstruction model (feed-forward, and optionally + refinement) on held-out objects."""

    model: Path | None = None
    """Model folder (default: the shipped recon-tiny)."""
    seeds_per_family: int = 2
    """Held-out objects per family evaluated feed-forward (0: skip)."""
    refine_seeds_per_family: int = 1
    """Held-out objects per family also evaluated with feedforward+refine (0: skip)."""
    refine: OptimizeConfig = REFINE
    """The refinement's settings (``--refine.steps``, ``--refine.guidance.guidance-scale`` ...)."""
    refine_prior: choice(NovelViewPriorSpec, type(None)) = None  # type: ignore[valid-type]
    """Novel-view guidance of the refinement: ``refine-prior:novel-view`` (image-conditioned on each input,
    the bundled Zero123-style prior by default); None: reference view + anchor only."""
    ood: bool = True
    """Also evaluate feed-forward on the 8 out-of-distribution objects of ``lift3d.data.ood`` and print them
    next to the in-distribution (held-out family) feed-forward rows."""
    out: Path | None = None
    """Write all rows and summaries as JSON here."""


def main(argv: list[str] | None = None) -> dict:
    import tyro

    from lift3d.pipelines.prior_specs import ReferenceConditions
    from lift3d.pipelines.reconstruct import feedforward, load_model, optimize_gaussians
    from lift3d.priors.zero123 import ReferenceView

    cfg = tyro.cli(EvaluateReconConfig, args=argv)
    torch.set_num_threads(1)
    model = load_model(cfg.model, torch.device("cpu"))
    res = model.config.image_size

    def ff(x: torch.Tensor) -> Gaussians:
        return feedforward(model, x)

    prior = None if cfg.refine_prior is None else cfg.refine_prior.build(torch.device("cpu"))

    def refine(x: torch.Tensor) -> Gaussians:
        guidance = conditions = None
        if prior is not None:
            guidance = cfg.refine.guidance.build(prior)
            conditions = ReferenceConditions(prior, x[None], ReferenceView.from_camera(input_camera(x.shape[0])))
        return optimize_gaussians(ff(x), x, cfg.refine, torch.Generator().manual_seed(0), anchor=True,
                                  guidance=guidance, prompts=conditions).scene

    results: dict[str, list[dict]] = {}
    if cfg.seeds_per_family:
        results["feedforward"] = [evaluate_object(ff, *o, resolution=res) for o in heldout_objects(cfg.seeds_per_family)]
    if cfg.refine_seeds_per_family:
        objs = heldout_objects(cfg.refine_seeds_per_family)
        results["feedforward+refine"] = [evaluate_object(refine, *o, resolution=res) for o in objs]
        if not cfg.seeds_per_family:
            results["feedforward (same objects)"] = [evaluate_object(ff, *o, resolution=res) for o in objs]
    if cfg.ood:
        results["feedforward OOD"] = evaluate_ood(ff, resolution=res)
    summary: dict[str, dict] = {k: summarize(v) for k, v in results.items()}
    print("| mode | objects | retrieval (vs canonical) | novel-view PSNR (dB) | silhouette IoU | Chamfer / radius "
          "| s per image |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k, s in summary.items():
        if "retrieval" not in s:
            continue
        print(f"| {k} | {s['objects']} | {s['retrieval']:.0%} ({s['retrieval_canonical']:.0%}) | {s['psnr']:.2f} | "
              f"{s['iou']:.3f} | {s['chamfer']:.4f} | {s['seconds']:.2f} |")
    shapes = {k: s for k, s in summary.items() if "psnr" in s}
    objs = heldout_objects(cfg.seeds_per_family or cfg.refine_seeds_per_family)
    if objs:
        summary["ground truth renders"] = ceiling = ground_truth_retrieval(objs, res)
        print(f"| ground-truth renders (ceiling) | {ceiling['objects']} | {ceiling['retrieval']:.0%} "
              f"({ceiling['retrieval_canonical']:.0%}) | | | | |")
    print()
    print_shape_table(shapes)
    if cfg.out is not None:
        Path(cfg.out).write_text(json.dumps({"summary": summary, "rows": results}, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()

__all__ = ["FSCORE_THRESHOLDS", "EvaluateReconConfig", "evaluate_object", "evaluate_ood", "fscore",
           "ground_truth_retrieval", "heldout_objects", "main", "measure_object", "print_shape_table", "psnr",
           "retrievals", "summarize"]
