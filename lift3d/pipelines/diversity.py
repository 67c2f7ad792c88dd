"""Diversity of several runs of one prompt (different seeds): how different are the assets from each other.

Two pairwise measures over the ``n (n - 1) / 2`` pairs of runs of the same prompt:

* **silhouette diversity** ``1 - mean IoU`` between the runs' silhouettes over the 16 evaluation views of
  :mod:`lift3d.pipelines.evaluate` (0: identical outlines from every view; the pairwise-distance diversity of
  generative-model evaluation, e.g. the mean pairwise LPIPS of BicycleGAN, Zhu et al., NeurIPS 2017, here with
  silhouette IoU as the distance);
* **Chamfer diversity**: mean pairwise Chamfer distance between the runs' extracted meshes' surface samples,
  divided by the ground truth's bounding radius like ``lift3d eval``'s Chamfer (Chamfer between generated
  shapes, as in the MMD/coverage measures of Achlioptas et al., ICML 2018, arXiv 1707.02392).

Diversity is not quality: mode collapse scores 0, but so does a method that gets the canonical shape right
every time. Read it next to IoU and retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import torch


def silhouette_diversity(alphas: Sequence[torch.Tensor]) -> float:
    """``1 -`` mean pairwise :func:`~lift3d.pipelines.evaluate.silhouette_iou` of ``[B, H, W, 1]`` alphas."""
    from lift3d.pipelines.shape_metrics import silhouette_iou

    if len(alphas) < 2:
        raise ValueError("diversity needs at least two runs")
    return 1.0 - float(np.mean([silhouette_iou(a, b) for a, b in combinations(alphas, 2)]))


def chamfer_diversity(point_sets: Sequence[np.ndarray], scale: float = 1.0) -> float:
    """Mean pairwise :func:`~lift3d.pipelines.evaluate.chamfer` of ``[N, 3]`` point sets, divided by ``scale``."""
    from lift3d.pipelines.shape_metrics import chamfer

    if len(point_sets) < 2:
        raise ValueError("diversity needs at least two runs")
    return float(np.mean([chamfer(a, b) for a, b in combinations(point_sets, 2)])) / scale


@dataclass
class DiversityReport:
    """Diversity of the runs of one prompt."""

    prompt: str
    runs: int
    seeds: list[int] = field(default_factory=list)
    silhouette: float = 0.0
    """``1 -`` mean pairwise silhouette IoU over the 16 evaluation views."""
    chamfer: float | None = None
    """Mean pairwise unit-normalised Chamfer distance between the meshes (None when a run has no mesh)."""


def diversity_by_prompt(prompts: Sequence[str], seeds: Sequence[int], alphas: Sequence[torch.Tensor],
                        points: Sequence[np.ndarray | None], scales: Sequence[float]) -> dict[str, DiversityReport]:
    """One :class:`DiversityReport` per prompt with at least two runs (runs given as parallel sequences:
    prompt, seed, evaluation-view alpha, mesh surface samples or None, ground truth bounding radius)."""
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(i)
    out = {}
    for prompt, idx in groups.items():
        if len(idx) < 2:
            continue
        pts = [points[i] for i in idx]
        cd = None if any(p is None for p in pts) else chamfer_diversity(pts, scales[idx[0]])  # type: ignore[arg-type]
        out[prompt] = DiversityReport(prompt, len(idx), [int(seeds[i]) for i in idx],
                                      silhouette_diversity([alphas[i] for i in idx]), cd)
    return out


__all__ = ["DiversityReport", "chamfer_diversity", "diversity_by_prompt", "silhouette_diversity"]
