"""The bundled novel-view prior: folder format through the public Zero123 loader, training (exact resume),
training/loader agreement, and the shipped weights against baselines on held-out pairs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from priors_fixtures import save_zero123

from lift3d.cameras import Cameras
from lift3d.data import palette_rgb
from lift3d.priors.base import Branch
from lift3d.priors.bundled_novel_view import (
    NOVEL_VIEW_PRIOR_DIR,
    NovelViewArchitecture,
    load_novel_view_prior,
    pair_conditions,
)
from lift3d.priors.stable_diffusion import LoadOptions
from lift3d.priors.zero123 import PoseConvention, ReferenceView, Zero123Config, relative_pose
from lift3d.train.novel_view import NovelViewNet, TrainNovelViewConfig, sample_pairs, train_novel_view
from lift3d.train.prior_data import PriorDataConfig, render_prior_data
from lift3d.types import LiftError

TINY = NovelViewArchitecture(resolution=16, block_out_channels=(16, 32), embed_dim=16, encoder_width=16,
                             encoder_layers=1)
TINY_DATA = PriorDataConfig(seeds_per_family=1, views_per_object=3, resolution=16)


def _cfg(out: Path, steps: int, **kw) -> TrainNovelViewConfig:
    kw.setdefault("architecture", TINY)
    return TrainNovelViewConfig(output=out, steps=steps, batch_size=4, checkpoint_every=2, quiet=True,
                                data=TINY_DATA, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 steps straight (exported) next to 2 + 2 resumed steps."""
    root = tmp_path_factory.mktemp("novel_view")
    train_novel_view(_cfg(root / "a", 4, export_to=root / "export"))
    train_novel_view(_cfg(root / "b", 2))
    train_novel_view(_cfg(root / "b", 4, resume=True))
    return root


def test_train_resumes_bit_identically(trained: Path) -> None:
    from safetensors.torch import load_file

    a = load_file(str(trained / "a/ckpt/step_00000004/state.safetensors"))
    b = load_file(str(trained / "b/ckpt/step_00000004/state.safetensors"))
    assert a.keys() == b.keys() and any(k.startswith("ema") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert len((trained / "b/metrics.jsonl").read_text().splitlines()) == 4


def test_export_only_matches_the_export_at_the_end(trained: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    train_novel_view(_cfg(trained / "b", 4, export_only=True, export_to=tmp_path / "again"))
    for sub in ("unet", "image_encoder", "cc_projection"):
        w1 = load_file(str(next((trained / "export" / sub).glob("*.safetensors"))))
        w2 = load_file(str(next((tmp_path / "again" / sub).glob("*.safetensors"))))
        assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_export_is_a_zero123_folder_without_vae(trained: Path) -> None:
    folder = trained / "export"
    assert not (folder / "vae").exists()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    index = json.loads((folder / "model_index.json").read_text())
    assert index["lift3d"]["pose_convention"] == "stable-zero123" and index["lift3d"]["train_steps"] == 4
    # the public loader, with nothing but the folder: the recorded convention wins over the name heuristic
    prior = Zero123Config(model=str(folder), load=LoadOptions(device="cpu")).build()
    assert prior.vae is None and prior.channels == 3 and prior.resolution == 16
    assert prior.convention is PoseConvention.STABLE_ZERO123
    assert load_novel_view_prior(folder).convention is PoseConvention.STABLE_ZERO123


def _ema_net_and_pairs(checkpoint: Path, arch: NovelViewArchitecture):
    """The training network with a checkpoint's EMA weights, the tiny data and 3 fixed pairs from it."""
    from safetensors.torch import load_file

    state = load_file(str(checkpoint / "state.safetensors"))
    net = NovelViewNet(arch)
    net.load_state_dict({k[len("ema."):]: v for k, v in state.items() if k.startswith("ema.")})
    data = render_prior_data(TINY_DATA, torch.Generator().manual_seed(0))
    return net, data, sample_pairs(data, TINY_DATA.views_per_object, palette_rgb(), 3, torch.Generator().manual_seed(1))


def test_loader_reproduces_the_training_forward(trained: Path) -> None:
    """The loaded prior's conditioning (CLIP preprocessing, token, concatenated reference, pose) equals training's."""
    prior = load_novel_view_prior(trained / "export")
    net, data, pairs = _ema_net_and_pairs(trained / "a/ckpt/step_00000004", TINY)
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([50, 400, 900])
    with torch.no_grad():
        want = net(x, t, pairs.reference, pairs.pose, torch.tensor([True, True, True]))
        want_uncond = net(x, t, pairs.reference, pairs.pose, torch.tensor([False, False, False]))
    cond = pair_conditions(prior, pairs.reference.permute(0, 2, 3, 1), pairs.pose)
    got = prior.predict(x, t, cond, [Branch.TEXT, Branch.UNCOND])
    torch.testing.assert_close(got[Branch.TEXT], want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got[Branch.UNCOND], want_uncond, atol=1e-5, rtol=1e-4)
    # the single-reference API (image_conditions + camera_condition) gives the same token and pose
    i = 0
    el, az = data.elevation[pairs.target_index[i]], data.azimuth[pairs.target_index[i]]
    single = prior.image_conditions(pairs.reference[i:i + 1].permute(0, 2, 3, 1), ReferenceView(0.0, 0.0, 2.75))
    torch.testing.assert_close(single.text[0], cond.text[i])
    torch.testing.assert_close(single.image[0], cond.image[i])
    cams = Cameras.from_spherical(el[None], az[None], torch.tensor([2.75]), 40.0, 16)
    assert prior.camera_condition(cams).shape == (1, 4)


def test_v_prediction_trains_exports_and_loads_as_epsilon(tmp_path: Path) -> None:
    """``--architecture.prediction-type v_prediction``: the export's scheduler says so, and the loader turns the
    network's v into the epsilon of the same denoised estimate."""
    import dataclasses

    from lift3d.priors.base import PredictionType, to_epsilon

    arch = dataclasses.replace(TINY, prediction_type=PredictionType.V)
    train_novel_view(_cfg(tmp_path / "run", 2, architecture=arch, export_to=tmp_path / "export"))
    scheduler = json.loads((tmp_path / "export/scheduler/scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction"
    prior = load_novel_view_prior(tmp_path / "export")
    assert prior.prediction_type is PredictionType.V
    net, _, pairs = _ema_net_and_pairs(tmp_path / "run/ckpt/step_00000002", arch)
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([50, 400, 999])
    with torch.no_grad():
        want = to_epsilon(net(x, t, pairs.reference, pairs.pose, torch.ones(3, dtype=torch.bool)), x, t,
                          prior.alphas_cumprod, PredictionType.V)
    got = prior.predict(x, t, pair_conditions(prior, pairs.reference.permute(0, 2, 3, 1), pairs.pose), [Branch.TEXT])
    torch.testing.assert_close(got[Branch.TEXT], want, atol=1e-5, rtol=1e-4)


def test_init_from_an_export_starts_at_its_weights_with_another_prediction_type(trained: Path, tmp_path: Path) -> None:
    """``--init-from``: a fine-tune's first checkpoint is two (tiny) optimiser steps away from the export's weights (its
    EMA starts there), the prediction type may change, and a mismatched architecture is a one-line error."""
    import dataclasses

    from safetensors.torch import load_file

    from lift3d.priors.base import PredictionType

    arch = dataclasses.replace(TINY, prediction_type=PredictionType.V)
    train_novel_view(_cfg(tmp_path / "ft", 2, architecture=arch, init_from=trained / "export", lr=1e-12))
    state = load_file(str(tmp_path / "ft/ckpt/step_00000002/state.safetensors"))
    exported = load_file(str(trained / "export/unet/diffusion_pytorch_model.safetensors"))
    random_init = NovelViewNet(arch).unet.state_dict()
    for k, v in exported.items():
        torch.testing.assert_close(state[f"ema.unet.{k}"], v, atol=1e-6, rtol=0)
        torch.testing.assert_close(state[f"net.unet.{k}"], v, atol=1e-6, rtol=0)
    assert any(not torch.allclose(random_init[k], v) for k, v in exported.items())
    wider = dataclasses.replace(TINY, block_out_channels=(16, 48))
    with pytest.raises(LiftError, match="unet does not match --architecture"):
        train_novel_view(_cfg(tmp_path / "bad", 1, architecture=wider, init_from=trained / "export"))
    with pytest.raises(LiftError, match="no unet/diffusion_pytorch_model.safetensors"):
        train_novel_view(_cfg(tmp_path / "none", 1, architecture=arch, init_from=tmp_path))


def test_pairs_are_two_views_of_one_object_with_their_relative_pose() -> None:
    data = render_prior_data(TINY_DATA, torch.Generator().manual_seed(0))
    colours = palette_rgb()
    pairs = sample_pairs(data, 3, colours, 32, torch.Generator().manual_seed(5))
    for i in range(32):
        tgt = int(pairs.target_index[i])
        # the reference image is one of the object's other views in the same colour
        refs = [(tgt // 3) * 3 + j for j in range(3) if (tgt // 3) * 3 + j != tgt]
        rgb = colours[pairs.colour[i]][None]
        match = [r for r in refs if torch.allclose(data.images(torch.tensor([r]), rgb)[0].permute(2, 0, 1),
                                                   pairs.reference[i])]
        assert match, i
        torch.testing.assert_close(pairs.target[i], data.images(torch.tensor([tgt]), rgb)[0].permute(2, 0, 1))
        cams = Cameras.from_spherical(data.elevation[tgt][None], data.azimuth[tgt][None], torch.tensor([2.75]), 40.0, 16)
        ref = ReferenceView(float(data.elevation[match[0]]), float(data.azimuth[match[0]]), 2.75)
        torch.testing.assert_close(pairs.pose[i], relative_pose(cams, ref, PoseConvention.STABLE_ZERO123)[0],
                                   atol=1e-4, rtol=0)


def test_latent_folder_without_vae_is_a_clear_error(tmp_path: Path) -> None:
    folder = save_zero123(tmp_path / "zero123-xl-diffusers")
    shutil.rmtree(folder / "vae")
    with pytest.raises(LiftError, match="vae/config.json"):
        Zero123Config(model=str(folder), load=LoadOptions(device="cpu")).build()


def test_pair_conditions_rejects_bad_shapes(trained: Path) -> None:
    prior = load_novel_view_prior(trained / "export")
    with pytest.raises(LiftError, match="references"):
        pair_conditions(prior, torch.rand(2, 16, 16, 3), torch.zeros(3, 4))


@pytest.mark.skipif(not (NOVEL_VIEW_PRIOR_DIR / "model_index.json").is_file(), reason="novel-view prior not exported")
def test_shipped_prior_denoises_heldout_pairs_better_than_baselines() -> None:
    """Held-out objects (seeds >= 10000): eps MSE below zero prediction, the unconditional branch (token and
    reference zeroed) and a randomly initialised network, at every tested timestep."""
    from lift3d.train.evaluate_novel_view import (
        EvaluateNovelViewConfig,
        eps_mse,
        heldout_data,
        heldout_pairs,
        random_init_prior,
    )

    cfg = EvaluateNovelViewConfig(heldout_seeds=1, heldout_views=4, pairs=56)
    data = heldout_data(cfg)
    pairs = heldout_pairs(data, cfg, cfg.pairs, cfg.seed)
    ts = (200, 500, 800)
    prior = load_novel_view_prior()
    assert prior.vae is None and prior.resolution == 32 and prior.convention is PoseConvention.STABLE_ZERO123
    got = eps_mse(prior, pairs, ts, seed=0)
    rand = eps_mse(random_init_prior(NOVEL_VIEW_PRIOR_DIR, 0), pairs, ts, seed=0)
    for i in range(len(ts)):
        assert got["model"][i] < 0.8 * got["zero"][i], got
        assert got["model"][i] < 0.95 * got["unconditional"][i], got
        assert got["model"][i] < 0.5 * rand["model"][i], (got, rand)
