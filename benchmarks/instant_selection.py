"""Which of the ``instant`` preset's lifted candidates to keep: a selection study on the benchmark prompts.

For each prompt of ``benchmarks/generate_quality.py``, ``--candidates`` images are sampled from the bundled text
prior and lifted by the shipped feed-forward model exactly as ``init:sample-reconstruct`` does
(``lift3d/pipelines/inits/sample.py``, with ``close_gaps``); each lift is scored by every selection rule
and, for the study only, by its silhouette IoU with the prompted family's canonical shape over the 16 evaluation
views at 64 px (what ``lift3d eval`` measures, before any refinement). Then each rule picks one candidate among
the first 8 and among all of them, and its mean IoU and retrieval are reported, with the oracle (best by the
ground-truth IoU) as the ceiling. Last, what the default does now: every lift scaled to unit size
(``normalize_lift``) and the majority silhouettes of the default score's top 1..6 (``majority``, the
target of the consensus term, lift3d/pipelines/terms/consensus.py), with the oracle among the unit-size lifts.

    OMP_NUM_THREADS=1 python benchmarks/instant_selection.py --candidates 16 --out outputs/selection.json

Last line: ``instant_selection: contrast=<IoU> contrast_likelihood=<IoU> majority4=<IoU> oracle=<IoU>
ratio=<majority4 / contrast_likelihood>`` (all over all candidates; majority4: of the top 4 at unit size).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from lift3d.data import FAMILIES, parse_caption
from lift3d.pipelines.evaluate import _canonical_alpha, eval_cameras, silhouette_iou
from lift3d.pipelines.inits.sample import (
    CandidateScorer,
    SampleReconstruct,
    Selection,
    candidate_images,
    close_gaps,
    copy_scene,
    normalize_lift,
    rgba_over_white,
    score_cameras,
    standardized_sum,
)
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.pipelines.terms.consensus import majority
from lift3d.priors.likelihood import DenoisingLikelihood
from lift3d.recon.inference import feedforward, load_model
from lift3d.renderers.gaussians import GaussianRenderer
from lift3d.scenes.gaussians import Gaussians

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_quality import PROMPTS  # noqa: E402  (the benchmark prompts, one list for both scripts)


@torch.no_grad()
def silhouettes(scenes: list[Gaussians], cfg: SampleReconstruct, resolution: int = 64) -> torch.Tensor:
    """``[K, V, H, W]`` boolean masks (alpha > 0.5) of each candidate from the :func:`score_cameras`."""
    renderer = GaussianRenderer()
    masks = []
    for scene in scenes:
        cams = score_cameras(cfg, resolution).to(scene.means.device)
        masks.append(renderer(scene, cams, torch.ones(3, device=scene.means.device)).alpha[..., 0].cpu() > 0.5)
    return torch.stack(masks)


def consensus_scores(masks: torch.Tensor) -> torch.Tensor:
    """``[K]``: each candidate's mean silhouette IoU with the other ``K - 1`` (its masks ``[K, V, H, W]``).

    Minimum Bayes-risk selection ("Minimum Bayes-Risk Decoding for Statistical Machine Translation", Kumar and
    Byrne, HLT-NAACL 2004): with the candidates as samples of the generator's distribution and 1 - IoU as the
    loss, the candidate of highest mean IoU with the others has the least expected loss. It keeps the most
    typical shape of the samples, the medoid, and drops the outliers: a lift that went wrong, or an instance
    of unusual proportions. A single candidate scores 1.
    """
    k = masks.shape[0]
    if k < 2:
        return torch.ones(k)
    flat = masks.flatten(2)  # [K, V, P]
    inter = (flat[:, None] & flat[None]).sum(-1).float()  # [K, K, V]
    union = (flat[:, None] | flat[None]).sum(-1).float().clamp_min(1)
    iou = (inter / union).mean(-1)  # [K, K], views averaged as silhouette_iou does
    return (iou.sum(1) - iou.diagonal()) / (k - 1)


def study_prompt(prompt: str, prior, model, cfg: SampleReconstruct, seed: int) -> dict:
    """Per-candidate scores of every rule and the ground-truth IoU / retrieval of ``prompt``'s candidates."""
    family, colour = parse_caption(prompt)
    device = torch.device("cpu")
    images = candidate_images(prior, prompt, cfg, torch.Generator().manual_seed(seed))
    others = BundledPriorSpec().contrast_prompts(prompt)
    contrast = CandidateScorer(prompt, cfg, device, others)
    cosine = CandidateScorer(prompt, replace(cfg, selection=Selection.CLIP_SCORE), device, others)
    prior_cams = score_cameras(cfg, prior.resolution)
    likelihood = DenoisingLikelihood(prior, prior.embed_text([prompt]), prior_cams)  # as the default selection
    unconditional = DenoisingLikelihood(prior, prior.embed_text([""]), prior_cams)  # same noises and timesteps
    cams, renderer = eval_cameras(64), GaussianRenderer()
    canonical = _canonical_alpha(family, colour, 1.0, 64)
    rows, scenes, unit_alphas = [], [], []
    for rgb in images:
        with torch.no_grad():
            scene = close_gaps(feedforward(model, rgba_over_white(rgb)))
            alpha = renderer(scene, cams, torch.ones(3)).alpha
            views = renderer(scene, prior_cams, torch.ones(3)).rgb.clamp(0, 1)
            nll = likelihood(views)
            ratio = nll - unconditional(views)  # the implicit classifier: unconditional minus conditional error
            unit_alphas.append(renderer(normalize_lift(copy_scene(scene), cfg.normalize_extent), cams,
                                        torch.ones(3)).alpha)
        ious = {f: silhouette_iou(alpha, _canonical_alpha(f, colour, 1.0, 64)) for f in FAMILIES}
        scenes.append(scene)
        rows.append({"contrast": contrast(scene), "cosine": cosine(scene), "likelihood": nll, "implicit": ratio,
                     "iou": ious[family], "iou_normalized": silhouette_iou(unit_alphas[-1], canonical),
                     "retrieved": max(ious, key=ious.__getitem__) == family})
    masks = silhouettes(scenes, cfg)
    majorities = {}
    for k in (8, len(rows)):
        for i, c in enumerate(consensus_scores(masks[:k]).tolist()):
            rows[i][f"consensus@{k}"] = c
        ranked = ranking(rows[:k])
        majorities[str(k)] = [silhouette_iou(majority(torch.stack([unit_alphas[i] for i in ranked[:top]])), canonical)
                            for top in range(1, MAJORITY_TOP + 1)]
    return {"prompt": prompt, "candidates": rows, "majority_normalized": majorities}


MAJORITY_TOP = 6
"""The study scores the majority silhouettes of the top 1..MAJORITY_TOP candidates."""


def ranking(rows: list[dict]) -> list[int]:
    """Indices of ``rows`` by the default score (contrast + likelihood z-scores), best first."""
    sums = standardized_sum([r["contrast"] for r in rows], [r["likelihood"] for r in rows])
    return sorted(range(len(rows)), key=lambda i: -sums[i])


def pick(rows: list[dict], rule: str, k: int) -> dict:
    """The candidate among the first ``k`` that ``rule`` keeps."""
    head = rows[:k]
    if rule == "first":
        return head[0]
    if rule == "oracle":
        return max(head, key=lambda r: r["iou"])
    if rule == "consensus":
        return max(head, key=lambda r: r[f"consensus@{k}"])
    if rule == "contrast+likelihood":  # the default, Selection.CONTRAST_LIKELIHOOD
        return head[ranking(head)[0]]
    return max(head, key=lambda r: r[rule])


RULES = ("first", "cosine", "contrast", "consensus", "likelihood", "implicit", "contrast+likelihood", "oracle")


def report(studies: list[dict], candidates: int) -> dict[tuple[str, int], float]:
    """Prints each rule's mean IoU and retrieval among the first 8 and all candidates; returns the mean IoUs."""
    means = {}
    for k in sorted({min(8, candidates), candidates}):
        for rule in RULES:
            chosen = [pick(s["candidates"], rule, k) for s in studies]
            means[(rule, k)] = sum(c["iou"] for c in chosen) / len(chosen)
            print(f"{rule:20s} of {k:2d}: IoU {means[(rule, k)]:.3f}  retrieval "
                  f"{sum(c['retrieved'] for c in chosen) / len(chosen):.0%}  "
                  + " ".join(f"{c['iou']:.2f}" for c in chosen), flush=True)
        if all("majority_normalized" in s for s in studies):  # lifts at unit size; the default's top ones' majority
            for top in range(MAJORITY_TOP):
                ious = [s["majority_normalized"][str(k)][top] for s in studies]
                means[(f"majority{top + 1}", k)] = sum(ious) / len(ious)
                print(f"majority of top {top + 1} (unit size) of {k:2d}: IoU {means[(f'majority{top + 1}', k)]:.3f}  "
                      + " ".join(f"{x:.2f}" for x in ious), flush=True)
            best = [max(s["candidates"][:k], key=lambda r: r["iou_normalized"])["iou_normalized"] for s in studies]
            print(f"{'oracle (unit size)':20s} of {k:2d}: IoU {sum(best) / len(best):.3f}", flush=True)
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompts", nargs="*", default=list(PROMPTS))
    parser.add_argument("--out", type=Path, default=None, help="per-candidate JSON (default: print only)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--guidance-scale", type=float, default=SampleReconstruct.guidance_scale)
    parser.add_argument("--model", type=Path, default=None, help="reconstruction model folder (default: shipped)")
    parser.add_argument("--analyze", type=Path, default=None, help="only print the table of a saved --out JSON")
    args = parser.parse_args()
    if args.analyze is not None:
        saved = json.loads(args.analyze.read_text())
        summary(report(saved["studies"], saved["candidates"]), saved["candidates"])
        return
    torch.set_num_threads(args.threads)
    prior = BundledPriorSpec().build(torch.device("cpu"))
    model = load_model(args.model, torch.device("cpu"))
    cfg = SampleReconstruct(candidates=args.candidates, guidance_scale=args.guidance_scale)
    studies = []
    for prompt in args.prompts:
        studies.append(study_prompt(prompt, prior, model, cfg, args.seed))
        print(prompt, " ".join(f"{r['iou']:.2f}" for r in studies[-1]["candidates"]), flush=True)
    means = report(studies, args.candidates)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"candidates": args.candidates, "seed": args.seed, "studies": studies},
                                       indent=1) + "\n")
    summary(means, args.candidates)


def summary(means: dict[tuple[str, int], float], k: int) -> None:
    """The last line (module docstring); studies saved before the majority rows report the contrast ratio."""
    chosen = means[("contrast+likelihood", k)]
    top = means.get(("majority4", k))
    tail = (f"majority4={top:.3f} oracle={means[('oracle', k)]:.3f} ratio={top / chosen:.3f}" if top is not None
            else f"oracle={means[('oracle', k)]:.3f} ratio={chosen / means[('contrast', k)]:.3f}")
    print(f"instant_selection: contrast={means[('contrast', k)]:.3f} contrast_likelihood={chosen:.3f} {tail}")


if __name__ == "__main__":
    main()
