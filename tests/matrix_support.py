"""The combination matrix's building blocks: tiny scenes, every guidance, the priors, and one check.

One check (:func:`check_exact`) runs a config through :func:`lift3d.pipelines.generate.generate` (what
``lift3d generate`` calls) twice: once uninterrupted, once killed right after the checkpoint of a chosen
step (a ``KeyboardInterrupt`` raised from the checkpoint writer, as Ctrl-C there would) and resumed with the
same config. Every checkpoint both runs keep is compared bit for bit, tensors and JSON parts: the one
written before the kill compares two identical runs, the last one compares a resumed run with an
uninterrupted one. The matrix files (``tests/test_matrix_*.py``) parametrize it; ``REFUSED`` lists the
combinations that are rejected up front, with the one line that says so.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from safetensors.torch import load_file

from lift3d.guidance import CSDConfig, DDSConfig, NFSDConfig, RewardConfig, SDSConfig, SJCConfig, VSDConfig
from lift3d.guidance.reward import RewardSource
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
from lift3d.pipelines.inits import FileInit, RandomInit
from lift3d.renderers.volume import VolumeRendererConfig
from lift3d.rigs.field import BLOB, FieldScene
from lift3d.rigs.gaussians import GaussianScene
from lift3d.rigs.mesh import MeshScene
from lift3d.runs import RunDir
from lift3d.scenes.density_grid import DensityGridConfig
from lift3d.scenes.gaussians_strategy import DefaultDensify
from lift3d.scenes.hash_grid import HashEncodingConfig, HashGridConfig
from lift3d.scenes.triplane import TriplaneConfig, TriplaneDecoderConfig

_VOLUME = VolumeRendererConfig(num_samples=12)
SCENES = {
    "density-grid": FieldScene(field=DensityGridConfig(resolution=12, activation=BLOB), renderer=_VOLUME),
    "hash-grid": FieldScene(field=HashGridConfig(encoding=HashEncodingConfig(num_levels=2, log2_hashmap_size=8,
                                                                             base_resolution=4, max_resolution=8),
                                                 hidden_dim=8, activation=BLOB), renderer=_VOLUME),
    "triplane": FieldScene(field=TriplaneConfig(resolution=8, decoder=TriplaneDecoderConfig(
        feature_dim=4, hidden_dim=8, activation=BLOB)), renderer=_VOLUME),
    "gaussians": GaussianScene(num_points=150, init_opacity=0.5,
                               densify=DefaultDensify(grow_grad2d=1e-9, refine_start_iter=1, refine_stop_iter=10,
                                                      refine_every=1, reset_every=1000)),
    "mesh": MeshScene(max_faces=200),
}
"""Every scene kind, at test size (the Gaussians densify at every step, so resume must carry a changed count)."""

GUIDANCES = {
    "sds": SDSConfig(),
    "vsd": VSDConfig(),
    "nfsd": NFSDConfig(),
    "dds": DDSConfig(),
    "sjc": SJCConfig(),
    "csd": CSDConfig(negative_scale=1.0),
    "reward-sds": RewardConfig(base=SDSConfig(), num_noises=2, top_k=1),
    "reward-vsd": RewardConfig(base=VSDConfig(), num_noises=2, top_k=1, reward=RewardSource.CLIP),
}
"""Every guidance (CSD with its negative term, which needs a negative prompt nobody passes here)."""

STEPS = 3
"""Steps of the stage under test; the interrupted run is killed after the checkpoint of step 2."""


def mesh_file(folder: Path) -> Path:
    """A small vertex-coloured box GLB (a mesh first stage starts from a mesh)."""
    from lift3d.export.formats import save_glb

    box = trimesh.creation.box((0.8, 0.8, 0.8)).subdivide()
    box.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(box.vertices), 1)).astype(np.uint8)
    return save_glb(box, folder / "box.glb")


def base_config(prior_spec, out: Path, **kw) -> GenerateConfig:
    """A tiny generate config: 16 px, 2 views, a checkpoint every step, no turntable, no exports."""
    kw.setdefault("init", RandomInit())
    return GenerateConfig(prompt="a red cube", prior=prior_spec, output=out, quiet=True, val_every=100,
                          checkpoint_every=1, turntable_frames=0, export=False, refine=None, **kw)


def stage(scene, guidance, views: int = 2, resolution: int = 16) -> StageConfig:
    return StageConfig(scene=scene, guidance=guidance, steps=STEPS, resolution=resolution, views_per_step=views)


def coarse_for(scene) -> StageConfig:
    """The one-step first stage before a refine stage of ``scene`` (a field refines its own field)."""
    first = scene if isinstance(scene, FieldScene) else SCENES["density-grid"]
    return StageConfig(scene=first, guidance=SDSConfig(), steps=1, resolution=16, views_per_step=2)


def as_first_stage(cfg: GenerateConfig, scene, guidance, folder: Path, views: int = 2,
                   resolution: int = 16) -> GenerateConfig:
    init = FileInit(mesh_file(folder)) if isinstance(scene, MeshScene) else RandomInit()
    return replace(cfg, stage=stage(scene, guidance, views, resolution), init=init)


def as_refine_stage(cfg: GenerateConfig, scene, guidance, views: int = 2, resolution: int = 16) -> GenerateConfig:
    coarse = replace(coarse_for(scene), views_per_step=views, resolution=resolution)
    return replace(cfg, stage=coarse, refine=stage(scene, guidance, views, resolution))


class _Killed(KeyboardInterrupt):
    """Raised by the checkpoint writer of the interrupted run."""


def _checkpoints(run: Path) -> dict[str, Path]:
    return {p.name: p for p in (run / "ckpt").iterdir() if p.name.startswith("step_")}


def assert_same_checkpoint(a: Path, b: Path) -> None:
    """Tensors bit for bit, and the JSON part (optimizer settings, steps, scalars) equal."""
    ta, tb = load_file(str(a / "state.safetensors")), load_file(str(b / "state.safetensors"))
    assert ta.keys() == tb.keys(), f"{a.name}: keys differ: {sorted(set(ta) ^ set(tb))[:5]}"
    for k in ta:
        assert ta[k].shape == tb[k].shape and torch.equal(ta[k], tb[k]), f"{a.name}: {k} differs"
    ja, jb = json.loads((a / "state.json").read_text()), json.loads((b / "state.json").read_text())
    assert ja["state"] == jb["state"], f"{a.name}: the JSON part differs"


@contextlib.contextmanager
def killed_after(monkeypatch: pytest.MonkeyPatch, kill_after: int) -> Iterator[None]:
    """The block must end in a run killed right after writing the checkpoint of step ``kill_after`` (a
    ``KeyboardInterrupt`` from the checkpoint writer, as Ctrl-C there would)."""
    save = RunDir.save

    def save_then_die(self: RunDir, step: int, state: dict, keep_last: int = 2) -> Path:
        path = save(self, step, state, keep_last)
        if step == kill_after:
            raise _Killed
        return path

    with monkeypatch.context() as m:
        m.setattr(RunDir, "save", save_then_die)
        with pytest.raises(_Killed):
            yield


def check_exact(cfg: GenerateConfig, folder: Path, monkeypatch: pytest.MonkeyPatch, kill_after: int) -> Path:
    """Uninterrupted run vs a run killed after the checkpoint of global step ``kill_after`` and resumed; both
    compared at every checkpoint they keep. Returns the uninterrupted run's folder."""
    (a,) = generate(replace(cfg, output=folder / "a"))
    with killed_after(monkeypatch, kill_after):
        generate(replace(cfg, output=folder / "b"))
    before_kill = _checkpoints(folder / "b")
    (b,) = generate(replace(cfg, output=folder / "b", resume=True))
    ca, cb = _checkpoints(a), _checkpoints(b)
    name = f"step_{kill_after:08d}"
    assert name in before_kill and name in ca, f"no checkpoint of step {kill_after} to compare"
    assert_same_checkpoint(ca[name], before_kill[name])  # two identical runs, up to the kill
    last = max(ca)
    assert last in cb and last != name
    assert_same_checkpoint(ca[last], cb[last])  # resumed == uninterrupted
    lines_a = (a / "metrics.jsonl").read_text().splitlines()
    lines_b = (b / "metrics.jsonl").read_text().splitlines()
    assert lines_a == lines_b  # the resumed run rewound and re-logged the steps after its checkpoint
    return a
