"""Contract test over every guidance in GUIDANCES, with tiny random diffusers models on CPU."""

from __future__ import annotations

import pytest
import torch
from test_guidance_fixtures import text_states, tiny_unet_prior

from lift3d.guidance import GUIDANCES, GuidanceOutput, RewardConfig
from lift3d.priors import Conditions
from lift3d.sampling import turntable

B, H = 2, 16


def conditions() -> Conditions:
    return Conditions(text=text_states(B, 1), uncond=text_states(1, 2), negative=text_states(1, 3),
                      source=text_states(1, 4), view_independent=text_states(1, 6),
                      source_images=torch.rand(1, H, H, 3, generator=torch.Generator().manual_seed(5)))


def small(config_cls: type):
    """The default config, with the reward wrapper's noise count cut to keep CPU tests quick (and the prompt-blind
    contrast reward: the contract tests run without a prompt)."""
    from lift3d.guidance.reward import RewardSource

    return RewardConfig(num_noises=4, reward=RewardSource.CONTRAST) if config_cls is RewardConfig else config_cls()


def run_once(config_cls: type, latent: bool, camera: bool = False):
    prior = tiny_unet_prior(latent=latent, camera=camera)
    guidance = small(config_cls).build(prior)
    images = torch.rand(B, H, H, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    x = prior.encode(images.detach())
    noise = torch.randn(guidance.noise_shape(x), generator=torch.Generator().manual_seed(7))
    t = torch.tensor([300, 700])
    out = guidance(images, conditions(), turntable(B, H), step=0, max_steps=10, t=t, noise=noise)
    out.loss.backward()
    return prior, guidance, images, out


@pytest.mark.parametrize("config_cls", GUIDANCES, ids=lambda c: c.__name__)
def test_guidance_contract(config_cls: type) -> None:
    prior, guidance, images, out = run_once(config_cls, latent=False)
    assert isinstance(out, GuidanceOutput)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert images.grad is not None and images.grad.abs().sum() > 0 and torch.isfinite(images.grad).all()
    assert all(p.grad is None for p in prior.parameters()), "gradient leaked into the prior"
    assert all(torch.isfinite(v).all() for v in out.logs.values())
    # bit-identical given seeds, t and noise
    _, _, images2, out2 = run_once(config_cls, latent=False)
    assert torch.equal(out.loss, out2.loss) and torch.equal(images.grad, images2.grad)


@pytest.mark.parametrize("config_cls", GUIDANCES, ids=lambda c: c.__name__)
def test_guidance_optimizes_latent_prior(config_cls: type) -> None:
    """Three optimisation steps through a tiny AutoencoderKL + UNet with a camera embedding."""
    prior = tiny_unet_prior(latent=True, camera=True)
    guidance = small(config_cls).build(prior)
    images = torch.rand(B, H, H, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    start = images.detach().clone()
    opt = torch.optim.Adam([images], lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    cams = turntable(B, H)
    for step in range(3):
        out = guidance(images, conditions(), cams, step=step, max_steps=3, generator=gen)
        opt.zero_grad()
        out.loss.backward()
        assert torch.isfinite(out.loss) and torch.isfinite(images.grad).all()
        opt.step()
        guidance.update(step)
        assert all(p.grad is None for p in prior.vae.parameters())
    assert not torch.equal(images.detach(), start)
