"""Overhead of lift3d's guidance losses over the raw prior calls they need, same process, tiny UNet.

For each loss, ``ours`` = ``guidance(images, ...)`` + ``loss.backward()`` (+ ``update`` for VSD) and
``baseline`` = the bare diffusers calls the method cannot avoid: the UNet forward on the batched
branches (2B for CFG, 3B for NFSD, 4B for DDS, N x 2B for the reward wrapper + N decodes + rewards),
plus VSD's phi forward and phi training step, plus the image-to-sample map and its backward.
Times are the minimum over interleaved repeats (robust to other load on the machine). Target ratio <= 1.15.

Usage: ``python benchmarks/guidance_overhead.py [--size 16] [--batch 2] [--repeats 7] [--threads 1]``.
Last line: ``guidance_overhead: ours=<s> baseline=<s> ratio=<ours/baseline>`` summed over all losses.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lift3d.guidance import CSDConfig, DDSConfig, NFSDConfig, RewardConfig, SDSConfig, SJCConfig, VSDConfig
from lift3d.guidance.functional import cfg as cfg_mix
from lift3d.priors.base import Conditions
from lift3d.priors.rewards import ContrastReward
from lift3d.priors.unet import UNetPrior


def tiny_prior(size: int) -> UNetPrior:
    from diffusers import DDPMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=size, in_channels=3, out_channels=3,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8)
    return UNetPrior(unet, DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012))


def best_times(a: Callable[[], None], b: Callable[[], None], repeats: int) -> tuple[float, float]:
    """Minimum wall time of ``a`` and of ``b`` over ``repeats`` interleaved runs (load hits both alike)."""
    a(), b()  # warm-up
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(ta), min(tb)


def raw_step(prior: UNetPrior, images: torch.Tensor, embeds: list[torch.Tensor], t: torch.Tensor,
             repeats_of_batch: int = 1, extra: Callable[[torch.Tensor], None] | None = None) -> None:
    """Bare calls: image -> x (grad), ``repeats_of_batch`` batched UNet forwards under no_grad, backward."""
    img = images.detach().requires_grad_(True)
    x = img.permute(0, 3, 1, 2) * 2 - 1
    b = x.shape[0]
    g = torch.zeros_like(x)
    with torch.no_grad():
        for _ in range(repeats_of_batch):
            n = len(embeds)
            z = x.repeat(n, 1, 1, 1)
            out = prior.unet(z, t.repeat(n), encoder_hidden_states=torch.cat([e.expand(b, -1, -1) for e in embeds])).sample
            parts = out.chunk(n)
            g = g + cfg_mix(parts[-1], parts[0], 7.5)
            if extra is not None:
                extra(x)
    x.backward(g)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = least sensitive to other load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prior = tiny_prior(args.size)
    b, r = args.batch, args.size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(b, r, r, 3, generator=gen)
    text, unc, neg, src = (torch.randn(1, 4, 32, generator=gen) for _ in range(4))
    conds = Conditions(text=text.expand(b, -1, -1), uncond=unc, negative=neg, source=src, view_independent=text,
                       source_images=images.flip(1))
    t = torch.randint(20, 980, (b,), generator=gen)
    reward = ContrastReward()
    n_noises = 4

    def ours(guidance) -> Callable[[], None]:
        def fn() -> None:
            img = images.detach().requires_grad_(True)
            guidance(img, conds, None, step=0, max_steps=1, t=t, generator=torch.Generator().manual_seed(1)).loss.backward()
            guidance.update(0)
        return fn

    def vsd_extra(vsd) -> Callable[[torch.Tensor], None]:
        unet = prior.unet

        def extra(x: torch.Tensor) -> None:
            x = x.detach()
            unet.enable_adapters()
            unet(x, t, encoder_hidden_states=text.expand(b, -1, -1))
            with torch.enable_grad():
                loss = F.mse_loss(unet(x, t, encoder_hidden_states=text.expand(b, -1, -1)).sample, x)
                vsd.optimizer.zero_grad()
                loss.backward()
                vsd.optimizer.step()
            unet.disable_adapters()
        return extra

    cases = [
        ("sds", SDSConfig().build(prior), [text, unc], 1, None),
        ("nfsd", NFSDConfig().build(prior), [text, unc, neg], 1, None),
        ("csd", CSDConfig().build(prior), [text, unc], 1, None),
        ("sjc", SJCConfig().build(prior), [text, unc], 1, None),
        ("reward-sds", RewardConfig(num_noises=n_noises).build(prior, reward), [text, unc], n_noises,
         lambda x: reward((x.clamp(-1, 1) + 1).permute(0, 2, 3, 1) / 2, conds)),
    ]
    dds = DDSConfig().build(prior)
    cases.append(("dds", dds, [text, src, unc, unc], 1, None))
    vsd = VSDConfig().build(prior)  # last: it adds a LoRA adapter to the shared UNet
    cases.append(("vsd", vsd, [text, unc], 1, vsd_extra(vsd)))

    total_ours = total_base = 0.0
    print(f"tiny UNet {r}x{r}, batch {b}, {args.threads} thread(s), best of {args.repeats} interleaved runs")
    print(f"{'loss':<12}{'ours ms':>10}{'baseline ms':>14}{'ratio':>8}")
    for name, guidance, embeds, reps, extra in cases:
        mine, base = best_times(ours(guidance), lambda e=embeds, n=reps, x=extra: raw_step(prior, images, e, t, n, x),
                                args.repeats)
        total_ours += mine
        total_base += base
        print(f"{name:<12}{mine * 1e3:>10.1f}{base * 1e3:>14.1f}{mine / base:>8.3f}")
    print(f"guidance_overhead: ours={total_ours:.4f} baseline={total_base:.4f} ratio={total_ours / total_base:.3f}")


if __name__ == "__main__":
    main()
