"""train-recon: a training step lowers the losses on one object; resume over 2+2 steps is exact."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_recon_model import TINY

from lift3d.recon.data import ReconDataConfig
from lift3d.recon.train import TrainReconConfig, chamfer_loss, train_recon

DATA = ReconDataConfig(seeds_per_family=1, views=2, resolution=16, surface_points=64, families=("cube",))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_chamfer_closed_form() -> None:
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0.5]]])
    # a->b: (0.5 + sqrt(1.25)) / 2; b->a: 0.5
    expected = 0.5 * ((0.5 + 1.25 ** 0.5) / 2 + 0.5)
    assert chamfer_loss(a, b).item() == pytest.approx(expected, rel=1e-6)


def _cfg(tmp_path, steps, **kw) -> TrainReconConfig:
    return TrainReconConfig(output=tmp_path, steps=steps, batch_size=2, views_per_step=2, checkpoint_every=2,
                            data=DATA, architecture=TINY, quiet=True, threads=1, **kw)


def _metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_resume_is_exact(tmp_path) -> None:
    full, split = tmp_path / "full", tmp_path / "split"
    train_recon(_cfg(full, 4))
    train_recon(_cfg(split, 2))
    train_recon(_cfg(split, 4, resume=True))
    a = load_file(str(full / "ckpt" / "step_00000004" / "state.safetensors"))
    b = load_file(str(split / "ckpt" / "step_00000004" / "state.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert [m["loss"] for m in _metrics(full)] == [m["loss"] for m in _metrics(split)]


def test_training_reduces_loss_and_exports(tmp_path) -> None:
    from lift3d.recon.model import TriplaneGaussianModel

    train_recon(_cfg(tmp_path / "run", 40, lr=5e-3, warmup_steps=5, export_to=tmp_path / "model"))
    m = _metrics(tmp_path / "run")
    mean = lambda rows, k: sum(x[k] for x in rows) / len(rows)  # noqa: E731
    assert mean(m[-5:], "loss") < 0.75 * mean(m[:3], "loss")
    assert mean(m[-5:], "chamfer") < mean(m[:3], "chamfer")
    model = TriplaneGaussianModel.from_pretrained(tmp_path / "model")
    assert model.config.image_size == 16
    # --export-only writes the newest checkpoint (step 40 = the end) again: the same weights
    train_recon(TrainReconConfig(output=tmp_path / "run", export_to=tmp_path / "again", export_only=True))
    again = TriplaneGaussianModel.from_pretrained(tmp_path / "again").state_dict()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(again[k], v, rtol=0, atol=0, msg=k)


def test_export_only_without_a_checkpoint_says_so(tmp_path) -> None:
    from lift3d.types import LiftError

    with pytest.raises(LiftError, match="--export-only needs"):
        train_recon(TrainReconConfig(export_only=True))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"schema_version": 1, "config": {"_kind": "train_recon"}}))
    with pytest.raises(LiftError, match="no valid checkpoint"):
        train_recon(TrainReconConfig(output=tmp_path, export_to=tmp_path / "out", export_only=True))


def test_accelerate_single_process(tmp_path) -> None:
    pytest.importorskip("accelerate")
    train_recon(_cfg(tmp_path / "acc", 2, accelerate=True))
    assert len(_metrics(tmp_path / "acc")) == 2


def test_bad_views_per_step(tmp_path) -> None:
    with pytest.raises(ValueError, match="views_per_step"):
        train_recon(TrainReconConfig(output=tmp_path, steps=1, views_per_step=9, data=DATA, architecture=TINY))


def test_init_from_an_export_starts_at_its_weights(tmp_path) -> None:
    """``--init-from``: a fine-tune (lr ~0) checkpoints the export's weights, not a fresh init; a folder of
    another architecture, or no model at all, is a one-line error."""
    from dataclasses import replace

    from lift3d.recon.model import TriplaneGaussianModel
    from lift3d.types import LiftError

    train_recon(_cfg(tmp_path / "run", 4, lr=5e-3, warmup_steps=1, export_to=tmp_path / "model"))
    exported = TriplaneGaussianModel.from_pretrained(tmp_path / "model").state_dict()
    train_recon(_cfg(tmp_path / "ft", 2, lr=1e-12, seed=7, init_from=tmp_path / "model"))
    state = load_file(str(tmp_path / "ft" / "ckpt" / "step_00000002" / "state.safetensors"))
    weights = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    assert weights.keys() == exported.keys()
    for k, v in exported.items():
        torch.testing.assert_close(weights[k], v, rtol=0, atol=1e-6, msg=k)
    fresh = load_file(str(tmp_path / "run" / "ckpt" / "step_00000002" / "state.safetensors"))
    assert any(not torch.equal(fresh[f"model.{k}"], v) for k, v in exported.items())
    wider = replace(TINY, plane_channels=TINY.plane_channels * 2)
    with pytest.raises(LiftError, match="does not match --architecture"):
        train_recon(replace(_cfg(tmp_path / "bad", 1, init_from=tmp_path / "model"), architecture=wider))
    with pytest.raises(LiftError, match="no diffusion_pytorch_model.safetensors"):
        train_recon(_cfg(tmp_path / "none", 1, init_from=tmp_path))
