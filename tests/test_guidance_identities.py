"""Exact identities of each loss (guidance.md section 3) with injected t and noise."""

from __future__ import annotations

import torch
from test_guidance_fixtures import text_states, tiny_unet_prior

from lift3d.guidance import CSDConfig, DDSConfig, NFSDConfig, RewardConfig, SDSConfig, SJCConfig, VSDConfig, Weighting
from lift3d.guidance.functional import cfg, weight
from lift3d.guidance.reward import RewardStrategy, reward_coefficients
from lift3d.priors import AnalyticPrior, Branch, Conditions

B, H = 2, 8  # pixel-space prior at its own resolution: x = 2 * image - 1, so dL/dimage = 2 dL/dx
T = torch.tensor([150, 640])


def conds() -> Conditions:
    return Conditions(text=text_states(B, 1), uncond=text_states(1, 2), negative=text_states(1, 3),
                      source=text_states(1, 4))


def image(seed: int = 0) -> torch.Tensor:
    return torch.rand(B, H, H, 3, generator=torch.Generator().manual_seed(seed))


def noise_like(shape: tuple[int, ...], seed: int = 9) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def grad_x(guidance, img, conditions, t=T, noise=None, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """``B * dL/dx`` (the method's g) and the loss, for a pixel-space prior."""
    img = img.clone().requires_grad_(True)
    out = guidance(img, conditions, None, t=t, noise=noise, **kw)
    out.loss.backward()
    return img.grad.permute(0, 3, 1, 2) * B / 2.0, out.loss


def eps_branches(prior, img, t, noise, conditions, branches):
    x = prior.encode(img)
    return x, prior.predict(prior.add_noise(x, t, noise), t, conditions, branches)


def test_sds_gradient_is_weighted_residual() -> None:
    prior = tiny_unet_prior()
    c, img, n = conds(), image(), noise_like((B, 3, H, H))
    g, loss = grad_x(SDSConfig(guidance_scale=7.0).build(prior), img, c, noise=n)
    _, e = eps_branches(prior, img, T, n, c, (Branch.TEXT, Branch.NEGATIVE))
    w = weight(Weighting.SDS, prior.alphas_cumprod, T).reshape(-1, 1, 1, 1)
    expected = w * (cfg(e[Branch.NEGATIVE], e[Branch.TEXT], 7.0) - n)
    torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, 0.5 * (expected**2).sum() / B, rtol=1e-5, atol=1e-6)
    # negative_as_uncond=False uses the empty prompt instead
    g_u, _ = grad_x(SDSConfig(guidance_scale=7.0, negative_as_uncond=False).build(prior), img, c, noise=n)
    _, e = eps_branches(prior, img, T, n, c, (Branch.TEXT, Branch.UNCOND))
    torch.testing.assert_close(g_u, w * (cfg(e[Branch.UNCOND], e[Branch.TEXT], 7.0) - n), rtol=1e-5, atol=1e-6)


def test_cfg_convention() -> None:
    e_u, e_c = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(cfg(e_u, e_c, 1.0), e_c)
    assert torch.equal(cfg(e_u, e_c, 0.0), e_u)
    s = 100.0  # threestudio's e_c + s (e_c - e_u) is ours at s + 1
    torch.testing.assert_close(cfg(e_u, e_c, s + 1), e_c + s * (e_c - e_u))


def test_sds_batch_invariance_and_clamp() -> None:
    prior = tiny_unet_prior()
    c = conds()
    img, n = image(), noise_like((B, 3, H, H))
    dup = Conditions(text=c.text[:1].repeat(2, 1, 1), uncond=c.uncond)
    g_pair, _ = grad_x(SDSConfig(guidance_scale=7.0).build(prior), img[:1].repeat(2, 1, 1, 1), dup,
                       t=T[:1].repeat(2), noise=n[:1].repeat(2, 1, 1, 1))
    torch.testing.assert_close(g_pair[0], g_pair[1])
    g_clip, _ = grad_x(SDSConfig(guidance_scale=7.0, grad_clip=0.05).build(prior), img, c, noise=n)
    assert g_clip.abs().max() <= 0.05 + 1e-6


def test_dds_zero_for_identical_source_and_target() -> None:
    prior = tiny_unet_prior()
    img, n = image(), noise_like((B, 3, H, H))
    c = conds().with_(source=conds().text, source_images=img)
    g, loss = grad_x(DDSConfig().build(prior), img, c, noise=n)
    assert torch.count_nonzero(g) == 0 and loss.item() == 0.0


def test_dds_equals_sds_difference_with_shared_noise() -> None:
    prior = tiny_unet_prior()
    tgt, src, n = image(0), image(1), noise_like((B, 3, H, H))
    c = conds().with_(source_images=src)
    g, _ = grad_x(DDSConfig().build(prior), tgt, c, noise=n)
    sds = SDSConfig(guidance_scale=7.5, weighting=Weighting.UNIFORM, negative_as_uncond=False).build(prior)
    g_tgt, _ = grad_x(sds, tgt, c, noise=n)
    g_src, _ = grad_x(sds, src, c.with_(text=c.source.expand(B, -1, -1)), noise=n)
    torch.testing.assert_close(g, g_tgt - g_src, rtol=1e-4, atol=1e-5)


def test_sjc_paas_matches_closed_form() -> None:
    prior = tiny_unet_prior()
    c, img, n = conds(), image(), noise_like((B, 3, H, H))
    _, e = eps_branches(prior, img, T, n, c, (Branch.TEXT, Branch.UNCOND))
    e_hat = cfg(e[Branch.UNCOND], e[Branch.TEXT], 100.0)
    g, _ = grad_x(SJCConfig().build(prior), img, c, noise=n)
    torch.testing.assert_close(g, e_hat - n, rtol=1e-4, atol=1e-4)  # var_red: SDS with w = 1
    g15, _ = grad_x(SJCConfig(var_red=False).build(prior), img, c, noise=n)
    torch.testing.assert_close(g15, e_hat, rtol=1e-4, atol=1e-4)


def test_sjc_paas_on_point_mass_is_noise_free() -> None:
    target = torch.rand(1, H, H, 3, generator=torch.Generator().manual_seed(3))
    prior = AnalyticPrior.point_mass(target)
    img = image()
    sjc = SJCConfig(guidance_scale=1.0, num_perturbations=3).build(prior)
    abar = prior.alphas_cumprod[T].reshape(-1, 1, 1, 1)
    sigma_ve = ((1 - abar) / abar).sqrt()
    expected = (prior.encode(img) - prior.encode(target)) / sigma_ve  # -(D - y)/sigma with D = x*
    for seed in (1, 2):
        g, _ = grad_x(sjc, img, AnalyticPrior.conditions(B), noise=noise_like((3, B, 3, H, H), seed))
        torch.testing.assert_close(g, expected, rtol=1e-4, atol=1e-4)


def test_nfsd_switches_at_threshold() -> None:
    prior = tiny_unet_prior()
    c, img, n = conds(), image(), noise_like((B, 3, H, H))
    t = torch.tensor([199, 200])
    g, _ = grad_x(NFSDConfig().build(prior), img, c, t=t, noise=n)
    _, e = eps_branches(prior, img, t, n, c, (Branch.TEXT, Branch.UNCOND, Branch.NEGATIVE))
    e_c, e_u, e_n = e[Branch.TEXT], e[Branch.UNCOND], e[Branch.NEGATIVE]
    w = weight(Weighting.SDS, prior.alphas_cumprod, t).reshape(-1, 1, 1, 1)
    early = w * (e_u + 7.5 * (e_c - e_u))
    late = w * (e_u - e_n + 7.5 * (e_c - e_u))
    torch.testing.assert_close(g[0], early[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g[1], late[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(early[1], late[1])


def test_csd_is_the_guidance_term() -> None:
    prior = tiny_unet_prior()
    c, img, n = conds(), image(), noise_like((B, 3, H, H))
    g, _ = grad_x(CSDConfig(guidance_scale=10.0).build(prior), img, c, noise=n)
    _, e = eps_branches(prior, img, T, n, c, (Branch.TEXT, Branch.UNCOND, Branch.NEGATIVE))
    w = weight(Weighting.SDS, prior.alphas_cumprod, T).reshape(-1, 1, 1, 1)
    # The guidance batches its branches differently from eps_branches: float32 rounding of the UNet (~1e-6)
    # is amplified by the scale 10, so the tolerance is 10x that of the unscaled identities above.
    torch.testing.assert_close(g, w * 10.0 * (e[Branch.TEXT] - e[Branch.UNCOND]), rtol=1e-4, atol=2e-5)
    g2, _ = grad_x(CSDConfig(guidance_scale=10.0, negative_scale=3.0).build(prior), img, c, noise=n)
    expected = w * (10.0 * (e[Branch.TEXT] - e[Branch.UNCOND]) - 3.0 * (e[Branch.NEGATIVE] - e[Branch.UNCOND]))
    torch.testing.assert_close(g2, expected, rtol=1e-4, atol=2e-5)


class ConstantReward:
    def __call__(self, images: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        return torch.ones(images.shape[0])


def test_reward_sds_equals_sds_under_constant_reward() -> None:
    prior = tiny_unet_prior()
    c, img = conds(), image()
    noises = noise_like((3, B, 3, H, H))
    sds = SDSConfig(guidance_scale=7.0)
    g_sds = [grad_x(sds.build(prior), img, c, noise=n)[0] for n in noises]
    one = RewardConfig(base=sds, num_noises=1, strategy=RewardStrategy.BEST).build(prior, ConstantReward())
    torch.testing.assert_close(grad_x(one, img, c, noise=noises[:1])[0], g_sds[0], rtol=1e-5, atol=1e-6)
    avg = RewardConfig(base=sds, num_noises=3, strategy=RewardStrategy.WEIGHTED).build(prior, ConstantReward())
    torch.testing.assert_close(grad_x(avg, img, c, noise=noises)[0], sum(g_sds) / 3, rtol=1e-5, atol=1e-6)


def test_reward_coefficients() -> None:
    r = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7])[:, None]
    c = reward_coefficients(r, RewardStrategy.MIN_MAX, top_k=2)[:, 0]
    torch.testing.assert_close(c, torch.tensor([-0.05, 0.45, 0.0, -0.05, 0.45]))
    assert reward_coefficients(r, RewardStrategy.BEST)[:, 0].tolist() == [0, 1, 0, 0, 0]
    torch.testing.assert_close(reward_coefficients(torch.zeros(4, 2), RewardStrategy.WEIGHTED), torch.full((4, 2), 0.25))
    assert reward_coefficients(torch.ones(4, 1), RewardStrategy.MIN_MAX).sum().item() == pytest_approx(0.8)


def pytest_approx(v: float):
    import pytest

    return pytest.approx(v, abs=1e-6)


def test_vsd_zero_at_init_and_graph_isolation() -> None:
    """Phi = frozen UNet with zero LoRA and zero camera embedding, CFG 1, same text -> g == 0."""
    prior = tiny_unet_prior()
    vsd = VSDConfig(guidance_scale=1.0, phi_lr=1e-2).build(prior)
    c, img, n = conds(), image(), noise_like((B, 3, H, H))
    c = c.with_(view_independent=c.text, negative=None)
    g, _ = grad_x(vsd, img, c, noise=n)
    assert g.abs().max() < 1e-4
    assert all(p.grad is None for p in vsd.phi.parameters())
    losses = [vsd.update(i)["loss_phi"] for i in range(1)]
    assert all(p.grad is not None for p in vsd.phi.camera_mlp.parameters())
    assert all(p.grad is None for n_, p in prior.unet.named_parameters() if "vsd_phi" not in n_)
    assert losses and vsd.update(1) == {}  # nothing pending after an update
    # after a phi step the difference is no longer zero, and v-prediction priors work the same way
    vsd(img, c, None, t=T, noise=n)
    vsd.update(2)
    g2, _ = grad_x(vsd, img, c, noise=n)
    assert g2.abs().max() > 1e-6


def test_vsd_phi_learns() -> None:
    prior = tiny_unet_prior(prediction_type="v_prediction")
    vsd = VSDConfig(phi_lr=3e-3, phi_steps=2).build(prior)
    c, img = conds(), image()
    losses = []
    for step in range(12):
        vsd(img, c, None, step=step, max_steps=12, generator=torch.Generator().manual_seed(step))
        losses.append(vsd.update(step)["loss_phi"])
    assert sum(losses[-4:]) < sum(losses[:4])
