"""Perp-Neg (arXiv 2304.04968): azimuth schedule, the perpendicular combination, SDS and generate wiring."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_guidance_fixtures import text_states, tiny_unet_prior

from lift3d.guidance import SDSConfig
from lift3d.guidance.functional import cfg as cfg_combine
from lift3d.guidance.functional import perp_neg_eps
from lift3d.priors.base import Branch
from lift3d.priors.perp_neg import PerpNegConfig, view_mixing
from lift3d.priors.prompts import PromptEmbeddings
from lift3d.sampling import View
from lift3d.types import LiftError

P = PerpNegConfig()


def test_view_mixing_follows_the_azimuth_schedule() -> None:
    mix, w = view_mixing(torch.tensor([0.0, 45.0, -45.0, 90.0, 135.0, 180.0, 360.0]), P)
    # front: positive = front, the side is fully negative, the front is not negative of itself
    assert torch.allclose(mix[0], torch.tensor([1.0, 0.0, 0.0])) and torch.allclose(w[0], torch.tensor([0.0, -2.0, 0.0]))
    # halfway front/side: both views mixed; both negatives faded by their decays
    r = 0.5
    expect = torch.tensor([math.exp(-r * 2.0) * -2.0, math.exp(-(1 - r) * 10.0) * -2.0, 0.0])
    assert torch.allclose(mix[1], torch.tensor([0.5, 0.5, 0.0])) and torch.allclose(w[1], expect)
    assert torch.equal(mix[1], mix[2]) and torch.equal(w[1], w[2])  # left/right symmetric
    # side: the front is fully negative
    assert torch.allclose(mix[3], torch.tensor([0.0, 1.0, 0.0])) and torch.allclose(w[3], torch.tensor([-2.0, 0.0, 0.0]))
    assert torch.allclose(mix[4], torch.tensor([0.0, 0.5, 0.5]))
    assert torch.allclose(w[4], torch.tensor([-2.0, math.exp(-0.5 * 10.0) * -1.0, 0.0]))
    # back: front fully negative, side at half weight
    assert torch.allclose(mix[5], torch.tensor([0.0, 0.0, 1.0])) and torch.allclose(w[5], torch.tensor([-2.0, -1.0, 0.0]))
    assert torch.equal(mix[6], mix[0]) and torch.equal(w[6], w[0])
    assert torch.allclose(mix.sum(1), torch.ones(7)) and (w <= 0).all()


def test_perp_neg_combination_identities() -> None:
    g = torch.Generator().manual_seed(0)
    e_u, e_p, e_k = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    w = torch.tensor([[-2.0], [-0.5]])
    # zero weights or a negative equal to the positive: plain CFG
    assert torch.allclose(perp_neg_eps(e_u, e_p, [e_k], torch.zeros(2, 1), 7.5), cfg_combine(e_u, e_p, 7.5))
    assert torch.allclose(perp_neg_eps(e_u, e_p, [e_p], w, 7.5), cfg_combine(e_u, e_p, 7.5), atol=1e-5)
    # a negative parallel to the positive direction changes nothing (only its perpendicular part acts)
    assert torch.allclose(perp_neg_eps(e_u, e_p, [e_u + 3.0 * (e_p - e_u)], w, 5.0), cfg_combine(e_u, e_p, 5.0), atol=1e-4)
    # a negative orthogonal to it enters with its full weight
    main = e_p - e_u
    d = torch.randn(2, 3, 4, 4, generator=g)
    d = d - ((d * main).flatten(1).sum(1) / (main * main).flatten(1).sum(1)).reshape(-1, 1, 1, 1) * main
    out = perp_neg_eps(e_u, e_p, [e_u + d], w, 5.0)
    assert torch.allclose(out, e_u + 5.0 * (main + w.reshape(-1, 1, 1, 1) * d), atol=1e-4)


def _prompts() -> PromptEmbeddings:
    states = text_states(6, seed=1)
    return PromptEmbeddings(text=states[0:1], uncond=states[1:2],
                            views={View.FRONT: states[2:3], View.SIDE: states[3:4], View.BACK: states[4:5],
                                   View.OVERHEAD: states[5:6]})


def test_conditions_interpolate_the_view_prompts() -> None:
    from lift3d.sampling import OrbitSampler, Range

    cams = OrbitSampler(elevation=Range((0.0, 0.0)), azimuth=Range((0.0, 0.0))).sample(1, 8, generator=torch.Generator().manual_seed(0))
    p = _prompts()
    c = p.conditions(cams, perp_neg=P)
    assert torch.allclose(c.text, p.views[View.FRONT], atol=1e-5)
    assert c.views.shape == (1, 3, 4, 32) and torch.allclose(c.view_weights, torch.tensor([[0.0, -2.0, 0.0]]))
    with pytest.raises(ValueError, match="view-dependent"):
        replace(p, views=None).conditions(cams, perp_neg=P)


def test_sds_with_perp_neg_matches_the_formula_and_skips_unused_views() -> None:
    from lift3d.sampling import OrbitSampler

    prior = tiny_unet_prior(size=8)
    cams = OrbitSampler().sample(3, 8, generator=torch.Generator().manual_seed(2))
    cond = _prompts().conditions(cams, perp_neg=P)
    sds = SDSConfig(guidance_scale=7.5).build(prior)
    z = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([200, 500, 800])
    calls = []
    predict = prior.predict
    prior.predict = lambda *a, **k: (calls.append(1), predict(*a, **k))[1]  # type: ignore[method-assign]
    with torch.no_grad():
        got = sds.guided_eps(z, t, cond)
    prior.predict = predict  # type: ignore[method-assign]
    with torch.no_grad():
        base = prior.predict(z, t, cond, (Branch.TEXT, Branch.UNCOND))
        views = [None if bool((cond.view_weights[:, k] == 0).all()) else
                 prior.predict(z, t, cond.with_(text=cond.views[:, k]), (Branch.TEXT,))[Branch.TEXT] for k in range(3)]
    main = base[Branch.TEXT] - base[Branch.UNCOND]
    want = main.clone()
    for k, e in enumerate(views):
        if e is not None:
            d = e - base[Branch.UNCOND]
            coef = (d * main).flatten(1).sum(1) / (main * main).flatten(1).sum(1)
            want += cond.view_weights[:, k].reshape(-1, 1, 1, 1) * (d - coef.reshape(-1, 1, 1, 1) * main)
    assert torch.allclose(got, base[Branch.UNCOND] + 7.5 * want, atol=1e-5)
    assert len(calls) == 1 + sum(v is not None for v in views) and views[2] is None  # the back is never negative


def test_generate_with_perp_neg_runs_and_rejects_other_guidance(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from test_generate import FIELD

    from lift3d.export.asset import AssetOptions
    from lift3d.guidance import VSDConfig
    from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
    from lift3d.pipelines.inits import RandomInit
    from lift3d.pipelines.prior_specs import BundledPriorSpec

    stage = StageConfig(scene=FIELD, steps=2, resolution=16, views_per_step=2)
    cfg = GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), prior=BundledPriorSpec(tiny_bundled_prior), stage=stage, perp_neg=P,
                         output=tmp_path / "run", quiet=True, val_every=2, checkpoint_every=2, turntable_frames=2,
                         asset=AssetOptions(texture_size=0))
    (run,) = generate(cfg)
    assert (run / "metrics.jsonl").read_text().count("\n") == 2
    with pytest.raises(LiftError, match="SDS guidance only"):
        generate(replace(cfg, stage=replace(stage, guidance=VSDConfig()), output=tmp_path / "vsd"))
