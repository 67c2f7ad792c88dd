"""lift3d edit: end to end through ``main`` on the tiny bundled prior, exact resume, appearance mode's frozen
geometry, the identity term, and the one-line refusals that write nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from matrix_support import _checkpoints, assert_same_checkpoint, killed_after
from safetensors.torch import load_file

from lift3d.export.formats import save_glb
from lift3d.pipelines import edit
from lift3d.pipelines.terms.identity import IdentityConfig, IdentityTerm
from lift3d.rigs.gaussians import GaussianRig, GaussianScene
from lift3d.scenes.gaussians import Gaussians
from lift3d.scenes.gaussians_ply import save_ply
from lift3d.types import LiftError

STEPS = 3


def tiny_args(prior: Path, out: Path, steps: int = STEPS, asset: bool = True) -> list[str]:
    """16 px, one view a step, a checkpoint every step, a 2-frame turntable (and exports without a texture bake)."""
    args = ("--prior.path", prior, "--output", out, "--stage.steps", steps, "--stage.resolution", 16,
            "--stage.views-per-step", 1, "--checkpoint-every", 1, "--val-every", 100, "--quiet", "--turntable-frames", 2)
    return [str(a) for a in args] + (["--asset.texture-size", "0", "--asset.target-faces", "500"] if asset else [])


def check_resume(run: Callable[[list[str]], None], argv: Callable[[Path], list[str]], folder: Path,
                 monkeypatch: pytest.MonkeyPatch, kill_after: int = 2) -> Path:
    """An uninterrupted run vs one killed right after the checkpoint of ``kill_after`` and resumed (``--resume``):
    every checkpoint both keep, and the metrics, are the same bit for bit. Returns the uninterrupted run."""
    a, b = folder / "a", folder / "b"
    run(argv(a))
    with killed_after(monkeypatch, kill_after):
        run(argv(b))
    run([*argv(b), "--resume"])
    ca, cb = _checkpoints(a), _checkpoints(b)
    assert max(ca) == max(cb) == f"step_{STEPS:08d}"
    for name in set(ca) & set(cb):
        assert_same_checkpoint(ca[name], cb[name])
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()
    return a


def _splats(path: Path) -> Gaussians:
    g = Gaussians.random_ball(80, 0.4, torch.Generator().manual_seed(3), 0, opacity=0.6)
    save_ply(g, path)
    return g


def _box(path: Path) -> Path:
    box = trimesh.creation.box((0.8, 0.8, 0.8)).subdivide()
    box.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(box.vertices), 1)).astype(np.uint8)
    return save_glb(box, path)


def test_appearance_edit_of_splats_resumes_exactly_and_keeps_geometry(tiny_bundled_prior: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    source = _splats(tmp_path / "cube.ply")

    def argv(out: Path) -> list[str]:
        return [str(tmp_path / "cube.ply"), "a blue cube", "--source-prompt", "a red cube", "--mode", "appearance",
                *tiny_args(tiny_bundled_prior, out)]

    a = check_resume(edit.main, argv, tmp_path, monkeypatch)
    state = load_file(str(a / "ckpt" / f"step_{STEPS:08d}" / "state.safetensors"))
    for k in ("means", "quats", "scales", "opacities"):  # geometry bit for bit
        assert torch.equal(state[f"rig.params.{k}"], source.params[k].detach()), k
    assert not torch.equal(state["rig.params.sh0"], source.params["sh0"].detach())  # the colour was edited
    assert "terms.source.scene.params.means" in state and "terms.identity.source.colour" in state
    assert (a / "export" / "splats.ply").is_file() and (a / "export" / "mesh.glb").is_file()
    assert (a / "edit.json").is_file() and any((a / "media").glob("turntable.*"))


def test_geometry_edit_of_a_generate_run_with_sds(tiny_bundled_prior: Path, tmp_path: Path) -> None:
    from lift3d.export.asset import AssetOptions
    from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
    from lift3d.pipelines.inits import FileInit
    from lift3d.pipelines.load import load_generate_run
    from lift3d.pipelines.prior_specs import BundledPriorSpec
    from lift3d.rigs.mesh import MeshScene

    stage = StageConfig(scene=MeshScene(max_faces=300), steps=1, resolution=16, views_per_step=1)
    (run,) = generate(GenerateConfig(prompt="a red cube", prior=BundledPriorSpec(tiny_bundled_prior), stage=stage,
                                     refine=None, init=FileInit(_box(tmp_path / "box.glb")), output=tmp_path / "gen",
                                     quiet=True, turntable_frames=0, export=False, asset=AssetOptions(texture_size=0)))
    with pytest.raises(LiftError, match="the target prompt is the source prompt"):  # the run's prompt is the source's
        edit.main([str(run), "A red cube ", *tiny_args(tiny_bundled_prior, tmp_path / "same")])
    assert not (tmp_path / "same").exists()
    edit.main([str(run), "a red sphere", "stage.guidance:sds", *tiny_args(tiny_bundled_prior, tmp_path / "e", 2)])
    cfg, rig = load_generate_run(tmp_path / "e")  # an edit run reads as any run (lift3d export, lift3d view)
    assert cfg.source_prompt == "a red cube" and cfg.prompt == "a red sphere"
    assert type(rig).__name__ == "MeshRig" and float(rig.scene.offsets.detach().abs().max()) > 0  # the geometry moved
    _, source = load_generate_run(run)
    assert len(rig.scene.faces) == len(source.scene.faces)


def test_identity_term_is_zero_at_the_source_and_pulls_back() -> None:
    g = Gaussians.random_ball(50, 0.4, torch.Generator().manual_seed(1), 0, opacity=0.5)
    rig = GaussianRig(GaussianScene(densify=None), g)
    term = IdentityTerm.capture(rig, IdentityConfig(weight=1.0, scale=0.1))
    assert term.losses(rig, None, None, 0)["identity"].item() == 0.0
    with torch.no_grad():
        g.params["means"][:5] += 0.02  # a small drift ...
        g.params["means"][5:10] += 1.0  # ... and a large departure (what an edit asks for)
    loss = term.losses(rig, None, None, 0)["identity"]
    assert loss.item() > 0
    loss.backward()
    grad = g.params["means"].grad
    assert (grad[:10] > 0).all()  # descent moves every displaced mean back toward the source
    assert grad[:5].norm(dim=-1).min() > 10 * grad[5:10].norm(dim=-1).max()  # robust: the far ones feel less pull
    assert grad[10:].abs().max() == 0
    before = term.departure(rig)["means"][:10].sum().item()
    with torch.no_grad():
        g.params["means"] -= 1e-3 * grad / grad.abs().max()
    assert term.departure(rig)["means"][:10].sum().item() < before


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "notes.txt").write_text("not an asset\n")
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")  # vertices, no faces
    _splats(tmp_path / "cube.ply")
    return {
        "not an asset": ([str(tmp_path / "notes.txt"), "a blue cube", "--source-prompt", "a red cube"],
                         "is not an asset"),
        "missing": ([str(tmp_path / "nothing.glb"), "a blue cube", "--source-prompt", "a red cube"], "does not exist"),
        "no faces": ([str(tmp_path / "flat.obj"), "a blue cube", "--source-prompt", "a red cube"], "no faces"),
        "same prompt": ([str(tmp_path / "cube.ply"), "a red cube", "--source-prompt", "a red cube"],
                        "is the source prompt"),
        "no source prompt": ([str(tmp_path / "cube.ply"), "a blue cube"], "--source-prompt"),
        "empty prompt": ([str(tmp_path / "cube.ply"), " ", "--source-prompt", "a red cube"], "prompt is empty"),
    }


@pytest.mark.parametrize("case", ["not an asset", "missing", "no faces", "same prompt", "no source prompt",
                                  "empty prompt"])
def test_bad_input_is_one_line_and_writes_nothing(case: str, tiny_bundled_prior: Path, tmp_path: Path) -> None:
    argv, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "run"
    with pytest.raises(LiftError, match=message) as e:
        edit.main([*argv, *tiny_args(tiny_bundled_prior, out)])
    assert "\n" not in str(e.value)
    assert not out.exists()
