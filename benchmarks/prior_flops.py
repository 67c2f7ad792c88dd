"""Achieved GFLOP/s of the bundled prior's UNet (forward + backward) vs this machine's fp32 GEMM rate, on CPU.

Peer: ``torch.matmul`` of two ``--gemm`` x ``--gemm`` fp32 matrices (2 n^3 FLOPs), best of ``--repeats``.
Ours: one forward + backward of the bundled prior's UNet (``BundledPrior.from_pretrained(BUNDLED_PRIOR_DIR)``,
batch ``--batch`` at its native resolution), FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``
(matmuls and convolutions), best of ``--repeats``.

Usage: ``python benchmarks/prior_flops.py [--threads 1] [--gemm 2048] [--batch 1] [--repeats 3]``.
Last line: ``prior_flops: ours=<GFLOP/s> peer=<gemm GFLOP/s> ratio=<ours/peer>``.
"""

from __future__ import annotations

import argparse
import inspect
import time

import torch
from torch.utils.flop_counter import FlopCounterMode


def gemm_gflops(n: int, repeats: int) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = min(_timed(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def unet_step(prior, batch: int):
    """A closure running one UNet forward + backward on random inputs at the prior's native size."""
    size = getattr(prior, "resolution", None) or getattr(prior, "image_size", None) or 32
    x = torch.randn(batch, prior.channels, size, size, requires_grad=True)
    t = torch.full((batch,), 500, dtype=torch.long)
    emb = prior.embed_text(["a wooden chair"] * batch)
    kwargs = {}
    if "camera" in inspect.signature(prior.forward_unet).parameters and hasattr(prior, "camera_condition_from_angles"):
        kwargs["camera"] = prior.camera_condition_from_angles(torch.full((batch,), 20.0), torch.zeros(batch))

    def step():
        prior.forward_unet(x, t, emb, **kwargs).float().square().mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gemm", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from lift3d.priors.bundled import BUNDLED_PRIOR_DIR, BundledPrior

    peer = gemm_gflops(args.gemm, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU; fp32 GEMM {args.gemm}^2: "
          f"{peer:.1f} GFLOP/s (best of {args.repeats})")
    prior = BundledPrior.from_pretrained(BUNDLED_PRIOR_DIR).float()
    step = unet_step(prior, args.batch)
    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    best = min(_timed(step) for _ in range(args.repeats))
    ours = flops / best / 1e9
    print(f"bundled prior UNet fwd+bwd, batch {args.batch}: {flops / 1e9:.2f} GFLOP in {best:.3f} s "
          f"(best of {args.repeats})")
    print(f"prior_flops: ours={ours:.2f} peer={peer:.2f} ratio={ours / peer:.3f}")


if __name__ == "__main__":
    main()
