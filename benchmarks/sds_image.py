"""Image-space score distillation: where does the prior's SDS pull a render, with no 3D in the way?

For every procedural family, four views of the ground-truth *sphere* in the prompt's colour (a neutral
start, like generate's density blob) are optimized directly as pixels (sigmoid logits, Adam) with the
default preset's SDS for "a {colour} {family}" from their own cameras. The bundled reward model then
classifies the results zero-shot. If an image cannot become the prompted shape here, no 3D optimizer will
get it from the same prior: this separates the prior's share of text-to-3D errors from the scene's.

    OMP_NUM_THREADS=1 python benchmarks/sds_image.py --steps 300 --grid docs/images/sds_image.png

Last line: ``sds_image: ... ratio=`` the shape accuracy of the SDS results divided by that of the starting
spheres (the baseline in the same run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> None:
    from lift3d.cameras import Cameras
    from lift3d.data import FAMILIES, PALETTE, caption_for, procedural_object, render_object
    from lift3d.guidance import SDSConfig
    from lift3d.pipelines.generate import StageConfig
    from lift3d.pipelines.prior_specs import BundledPriorSpec
    from lift3d.priors.prompts import PromptEmbeddings
    from lift3d.priors.zero_shot import load_zero_shot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--prior", type=Path, default=None, help="bundled prior folder (default: the shipped one)")
    parser.add_argument("--grid", type=Path, default=None, help="write start/result rows per family as a PNG")
    parser.add_argument("--out", type=Path, default=None, help="JSON summary")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    spec = BundledPriorSpec() if args.prior is None else BundledPriorSpec(args.prior)
    prior = spec.build(torch.device("cpu"))
    guidance_cfg = StageConfig().guidance
    assert isinstance(guidance_cfg, SDSConfig)
    classifier = load_zero_shot()
    colours = [c.name for c in PALETTE]
    cams = Cameras.from_spherical(torch.full((4,), 20.0), torch.tensor([30.0, 120.0, 210.0, 300.0]),
                                  torch.full((4,), 2.75), 40.0, 32)
    rows, results = [], []
    for i, family in enumerate(FAMILIES):
        colour = colours[i % len(colours)]
        prompt = caption_for(family, colour, 0)
        start = render_object(procedural_object("sphere", colour, seed=0, variation=0.0), cams).rgb
        logits = torch.logit(start.clamp(0.02, 0.98)).requires_grad_(True)
        guidance = guidance_cfg.build(prior)
        prompts = PromptEmbeddings.encode(spec.text_encoder(prior), prompt, None, view_dependent=False)
        opt = torch.optim.Adam([logits], lr=args.lr)
        gen = torch.Generator().manual_seed(i)
        for step in range(args.steps):
            loss = guidance(torch.sigmoid(logits), prompts.conditions(cams), cams, step=step, max_steps=args.steps,
                            generator=gen).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        result = torch.sigmoid(logits).detach()
        before, after = classifier(start), classifier(result)
        target = classifier.families.index(family)
        results.append({"prompt": prompt, "start_shape_correct": float((before.family == target).float().mean()),
                        "shape_correct": float((after.family == target).float().mean()),
                        "predicted": [classifier.families[int(k)] for k in after.family]})
        rows.append(torch.cat([torch.cat(list(start), 1), torch.cat(list(result), 1)], 1))
        print(f"{prompt:24s} SDS result classified {results[-1]['predicted']}", flush=True)
    ours = sum(r["shape_correct"] for r in results) / len(results)
    base = sum(r["start_shape_correct"] for r in results) / len(results)
    if args.grid is not None:
        import numpy as np
        from PIL import Image

        grid = (torch.cat(rows, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(args.grid)
    if args.out is not None:
        args.out.write_text(json.dumps({"steps": args.steps, "results": results, "shape_accuracy": ours,
                                        "start_shape_accuracy": base}, indent=2) + "\n")
    print(f"sds_image: families={len(results)} start_shape_accuracy={base:.3f} sds_shape_accuracy={ours:.3f} "
          f"ratio={ours / max(base, 1e-9):.2f}")


if __name__ == "__main__":
    main()
