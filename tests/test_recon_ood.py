"""Issue 33: train-recon on families + random compositions, and OOD evaluation (F-score, lift3d.data.ood)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_recon_model import TINY

from lift3d.data.ood import OOD_BUILDERS, ood_objects
from lift3d.recon.data import ReconDataConfig, load_recon_data, render_recon_data, save_recon_data
from lift3d.recon.evaluate import evaluate_ood, fscore, measure_object, summarize
from lift3d.recon.train import TrainReconConfig, train_recon
from lift3d.scenes.gaussians import Gaussians

MIX = ReconDataConfig(seeds_per_family=2, views=2, resolution=16, surface_points=64, families=("cube", "cone"),
                      random_fraction=0.5)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_fscore_closed_forms() -> None:
    pts = np.random.default_rng(0).normal(size=(50, 3))
    assert fscore(pts, pts, 0.05) == 1.0  # a perfect prediction
    assert fscore(pts + 10.0, pts, 0.1) == 0.0  # nothing within the threshold
    pred, truth = np.array([[0.0, 0, 0], [1, 0, 0]]), np.array([[0.0, 0, 0.3]])
    # precision 1/2 (only the origin is within 0.5), recall 1 -> F = 2 * 0.5 / 1.5 = 2/3
    assert fscore(pred, truth, 0.5) == pytest.approx(2 / 3)
    # distances are divided by scale: at scale 10, 0.05 * 10 = 0.5 > 0.3 is the same threshold
    assert fscore(pred, truth, 0.05, scale=10.0) == pytest.approx(2 / 3)
    assert fscore(pred, truth, 0.02, scale=10.0) == 0.0


def _splats(points: torch.Tensor) -> Gaussians:
    n = points.shape[0]
    return Gaussians(points, torch.tensor([[1.0, 0, 0, 0]]).expand(n, 4), torch.full((n, 3), -4.0),
                     torch.full((n,), 5.0), torch.zeros(n, 1, 3), torch.zeros(n, 0, 3))


def test_measure_object_perfect_points_give_zero_chamfer_and_unit_fscores() -> None:
    obj = ood_objects()[0]  # the mug
    surface = torch.as_tensor(np.asarray(obj.mesh(48).sample(4096, seed=0)), dtype=torch.float32)
    row = measure_object(lambda _x: _splats(surface), obj, resolution=16, retrieval=False)
    assert row["chamfer"] == pytest.approx(0.0, abs=1e-4)  # float32 cdist rounding
    assert row["fscore_01"] == 1.0 and row["fscore_005"] == 1.0
    assert 0.0 < row["iou"] <= 1.0 and math.isfinite(row["psnr"]) and "retrieval_correct" not in row


def test_evaluate_ood_with_a_tiny_random_model() -> None:
    torch.manual_seed(0)
    model = TINY.build().eval()
    rows = evaluate_ood(lambda x: model.predict(x[None])[0], resolution=16)
    assert [r["object"] for r in rows] == list(OOD_BUILDERS)
    for r in rows:
        assert 0.0 <= r["iou"] <= 1.0 and 0.0 < r["psnr"] < 100.0 and r["chamfer"] > 0
        assert 0.0 <= r["fscore_005"] <= r["fscore_01"] <= 1.0  # a looser threshold never scores lower
    s = summarize(rows)
    assert s["objects"] == 8 and "retrieval" not in s
    assert s["fscore_01"] == pytest.approx(sum(r["fscore_01"] for r in rows) / 8)


def test_mixed_training_data_keeps_family_rows_and_textures_random_rows(tmp_path) -> None:
    pure = render_recon_data(ReconDataConfig(**{**MIX.__dict__, "random_fraction": 0.0}),
                             generator=torch.Generator().manual_seed(3))
    mixed = render_recon_data(MIX, generator=torch.Generator().manual_seed(3))
    assert pure.texture is None and pure.texture_index is None
    rand = mixed.family < 0
    assert int(rand.sum()) == 2 and mixed.texture is not None and mixed.texture.shape == (2, 3, 16, 16, 3)
    assert mixed.texture_index.tolist() == [int(k) for k in (rand.cumsum(0) - 1).where(rand, -1)]
    # random rows do not disturb the families: same cameras everywhere, same renders and samples on family rows
    torch.testing.assert_close(mixed.c2w, pure.c2w, rtol=0, atol=0)
    for name in ("shade", "alpha", "points", "family"):
        torch.testing.assert_close(getattr(mixed, name)[~rand], getattr(pure, name)[~rand], rtol=0, atol=0)
    # a random object keeps its own colours whatever palette colour the batch draws; a family object takes it
    obj, view = torch.arange(4), torch.zeros(4, 1, dtype=torch.long)
    red, blue = mixed.images(obj, view, torch.tensor([[1.0, 0, 0]]).expand(4, 3))[0], \
        mixed.images(obj, view, torch.tensor([[0.0, 0, 1]]).expand(4, 3))[0]
    assert torch.equal(red[rand], blue[rand]) and not torch.equal(red[~rand], blue[~rand])
    save_recon_data(mixed, tmp_path / "d.safetensors")
    back = load_recon_data(tmp_path / "d.safetensors")
    assert torch.equal(back.texture, mixed.texture) and torch.equal(back.texture_index, mixed.texture_index)
    torch.testing.assert_close(back.images(obj, view, torch.rand(4, 3, generator=torch.Generator().manual_seed(1)))[0],
                               mixed.images(obj, view, torch.rand(4, 3, generator=torch.Generator().manual_seed(1)))[0])


def test_train_recon_on_the_mix_resumes_exactly(tmp_path) -> None:
    def cfg(out, steps, **kw):
        return TrainReconConfig(output=out, steps=steps, batch_size=2, views_per_step=2, checkpoint_every=2,
                                data=MIX, architecture=TINY, quiet=True, threads=1, **kw)

    full, split = tmp_path / "full", tmp_path / "split"
    train_recon(cfg(full, 4, keep_checkpoints=1))
    assert sorted(p.name for p in (full / "ckpt").iterdir()) == ["step_00000004"]
    train_recon(cfg(split, 2))
    train_recon(cfg(split, 4, resume=True))
    from safetensors.torch import load_file

    a = load_file(str(full / "ckpt" / "step_00000004" / "state.safetensors"))
    b = load_file(str(split / "ckpt" / "step_00000004" / "state.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert load_recon_data(full / "recon_data.safetensors").texture is not None


def test_random_fraction_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="random_fraction"):
        ReconDataConfig(random_fraction=1.5)
