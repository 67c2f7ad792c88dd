"""Which of the ``instant`` preset's lifted candidates to keep: a selection study on the benchmark prompts.

For each prompt of ``benchmarks/generate_quality.py``, ``--candidates`` images are sampled from the bundled text
prior and lifted by the shipped feed-forward model exactly as ``init-sample:sample-reconstruct`` does
(``lift3d/pipelines/sample_reconstruct.py``, with ``close_gaps``); each lift is scored by every selection rule
and, for the study only, by its silhouette IoU with the prompted family's canonical shape over the 16 evaluation
views at 64 px (what ``lift3d eval`` measures, before any refinement). Then each rule picks one candidate among
the first 8 and among all of them, and its mean IoU and retrieval are reported, with the oracle (best by the
ground-truth IoU) as the ceiling.

    OMP_NUM_THREADS=1 python benchmarks/instant_selection.py --candidates 16 --out outputs/selection.json

Last line: ``instant_selection: contrast=<IoU> consensus=<IoU> oracle=<IoU> ratio=<consensus / contrast>``
(all over all candidates).
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
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.pipelines.reconstruct import feedforward, load_model
from lift3d.pipelines.sample_reconstruct import (
    CandidateScorer,
    SampleReconstruct,
    Selection,
    candidate_images,
    close_gaps,
    rgba_over_white,
    score_cameras,
    standardized_sum,
)
from lift3d.priors.likelihood import DenoisingLikelihood
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
    contrast = CandidateScorer(prompt, cfg, device)
    cosine = CandidateScorer(prompt, replace(cfg, selection=Selection.CLIP_SCORE), device)
    prior_cams = score_cameras(cfg, prior.resolution)
    likelihood = DenoisingLikelihood(prior, prior.embed_text([prompt]), prior_cams)  # as the default selection
    unconditional = DenoisingLikelihood(prior, prior.embed_text([""]), prior_cams)  # same noises and timesteps
    cams, renderer = eval_cameras(64), GaussianRenderer()
    rows, scenes = [], []
    for rgb in images:
        with torch.no_grad():
            scene = close_gaps(feedforward(model, rgba_over_white(rgb)))
            alpha = renderer(scene, cams, torch.ones(3)).alpha
            views = renderer(scene, prior_cams, torch.ones(3)).rgb.clamp(0, 1)
            nll = likelihood(views)
            ratio = nll - unconditional(views)  # the implicit classifier: unconditional minus conditional error
        ious = {f: silhouette_iou(alpha, _canonical_alpha(f, colour, 1.0, 64)) for f in FAMILIES}
        scenes.append(scene)
        rows.append({"contrast": contrast(scene), "cosine": cosine(scene), "likelihood": nll, "implicit": ratio,
                     "iou": ious[family],
                     "retrieved": max(ious, key=ious.__getitem__) == family})
    masks = silhouettes(scenes, cfg)
    for k in (8, len(rows)):
        for i, c in enumerate(consensus_scores(masks[:k]).tolist()):
            rows[i][f"consensus@{k}"] = c
    return {"prompt": prompt, "candidates": rows}


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
        sums = standardized_sum([r["contrast"] for r in head], [r["likelihood"] for r in head])
        return head[max(range(len(head)), key=sums.__getitem__)]
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
        means = report(saved["studies"], saved["candidates"])
        k = saved["candidates"]
        print(f"instant_selection: contrast={means[('contrast', k)]:.3f} "
              f"contrast_likelihood={means[('contrast+likelihood', k)]:.3f} oracle={means[('oracle', k)]:.3f} "
              f"ratio={means[('contrast+likelihood', k)] / means[('contrast', k)]:.3f}")
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
    k = args.candidates
    print(f"instant_selection: contrast={means[('contrast', k)]:.3f} "
          f"contrast_likelihood={means[('contrast+likelihood', k)]:.3f} oracle={means[('oracle', k)]:.3f} "
          f"ratio={means[('contrast+likelihood', k)] / means[('contrast', k)]:.3f}")


if __name__ == "__main__":
    main()
