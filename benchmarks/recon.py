"""Feed-forward reconstruction vs per-image optimization on CPU (one thread).

ours: the shipped recon-tiny model's inference time per image (mean of ``--repeats`` runs after a warm-up).
baseline: the ``optimize`` mode (Gaussians fitted to the reference view, regularized novel views, the
default 200 steps) on the same image. Both results' novel-view PSNRs (16 views, training resolution) are
printed too, so the time ratio is read next to the quality each reaches. Held-out object: a cube,
seed 10000 (never trained on). Last line: ``recon: ours=<s> baseline=<s> ratio=<baseline/ours>``.
Optional: ``--paper`` also times a randomly initialised paper-size model (TGS's sizes) per image.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from lift3d.data import procedural_object, render_object
    from lift3d.pipelines.evaluate import eval_cameras
    from lift3d.pipelines.reconstruct import OptimizeConfig, feedforward, load_model, optimize_gaussians
    from lift3d.recon.camera import input_camera
    from lift3d.recon.evaluate import psnr
    from lift3d.recon.model import ReconArchitecture
    from lift3d.renderers.gaussians import GaussianRenderer
    from lift3d.scenes.gaussians import Gaussians

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=OptimizeConfig().steps)
    parser.add_argument("--paper", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(None, torch.device("cpu"))
    res = model.config.image_size
    obj = procedural_object("cube", "blue", seed=10_000)
    ref = render_object(obj, input_camera(res))
    x = torch.cat([ref.rgb[0], ref.alpha[0]], -1)
    cams = eval_cameras(res)
    gt = render_object(obj, cams).rgb

    feedforward(model, x)  # warm-up
    start = time.perf_counter()
    for _ in range(args.repeats):
        scene = feedforward(model, x)
    ours = (time.perf_counter() - start) / args.repeats
    with torch.no_grad():
        ff_psnr = psnr(GaussianRenderer()(scene, cams).rgb, gt)

    init = Gaussians.random_ball(OptimizeConfig().num_points, 0.5, torch.Generator().manual_seed(0), sh_degree=0)
    start = time.perf_counter()
    rig = optimize_gaussians(init, x, OptimizeConfig(steps=args.steps), torch.Generator().manual_seed(0), anchor=False)
    baseline = time.perf_counter() - start
    with torch.no_grad():
        opt_psnr = psnr(GaussianRenderer()(rig.scene, cams).rgb, gt)
    print(f"feed-forward: {ours * 1000:.1f} ms/image, novel-view PSNR {ff_psnr:.2f} dB")
    print(f"optimize ({args.steps} steps): {baseline:.2f} s/image, novel-view PSNR {opt_psnr:.2f} dB")
    if args.paper:
        big = ReconArchitecture.paper().build().eval()
        xb = torch.rand(1, big.config.image_size, big.config.image_size, 4)
        start = time.perf_counter()
        big.predict(xb)
        print(f"paper-size model (random weights): {time.perf_counter() - start:.2f} s/image")
    print(f"recon: ours={ours:.4f} baseline={baseline:.4f} ratio={baseline / ours:.1f}")


if __name__ == "__main__":
    main()
