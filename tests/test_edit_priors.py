"""lift3d edit and lift3d texture on each real prior kind: tiny random Stable Diffusion (latent), DeepFloyd IF
(pixel) and MVDream (latent, 4-view groups) in their hub layouts (tests/priors_fixtures.py), through ``main``.

Each prior renders at its tiny model's native size (``prior.resolution``: 16, 8 and 16 px), 3 steps, 1 view a step
(MVDream: one group of 4). Per prior: DDS edits of a ground-truth cube mesh in both modes and an SDS texture of
it, each killed after the checkpoint of step 2, resumed and compared bit for bit with an uninterrupted run
(tests/test_edit.py's ``check_resume``; prompt embeddings go through the on-disk cache, so the uninterrupted run
computes them and the others read them back); appearance edits and textures keep the geometry bit for bit. A
splat source is edited once (Stable Diffusion). DDS is exactly 0 on the unchanged source when the target prompt is
the source prompt (the source prompt gets the target's per-camera view suffix on SD and IF). MVDream refuses a view
count that splits its group of 4, in one line, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import trimesh
from PIL import Image
from priors_fixtures import save_deepfloyd, save_mvdream, save_sd
from safetensors.torch import load_file
from test_edit import STEPS, _splats, check_resume

from lift3d.export.formats import load_mesh
from lift3d.pipelines import edit, texture
from lift3d.priors.base import views_per_sample
from lift3d.priors.deepfloyd import DeepFloydIFConfig
from lift3d.priors.mvdream import MVDreamConfig
from lift3d.priors.stable_diffusion import LoadOptions, StableDiffusionConfig
from lift3d.rigs.texture import mesh_uv
from lift3d.types import LiftError

PRIORS = {"stable-diffusion": (save_sd, StableDiffusionConfig), "deepfloyd-if": (save_deepfloyd, DeepFloydIFConfig),
          "mvdream": (save_mvdream, MVDreamConfig)}
"""Prior kind (its ``prior:`` subcommand) -> (the tiny hub-layout writer, its spec)."""

TEXTURE_SIZE = 16


class Prior:
    """A tiny prior folder, its spec and the CLI arguments that select it, its native resolution and view group."""

    def __init__(self, kind: str, root: Path) -> None:
        save, spec_cls = PRIORS[kind]
        self.kind, self.folder, self.cache = kind, save(root / kind), root / "prompt_cache"
        self.spec = spec_cls(model=str(self.folder), load=LoadOptions(device="cpu", cache_dir=str(self.cache)))
        self.resolution = self.spec.build().resolution
        self.views = views_per_sample(self.spec)

    def args(self, out: Path, views: int | None = None) -> list[str]:
        """3 steps at the native size, one view group a step, a checkpoint every step, no turntable."""
        args = ("--output", out, "--stage.steps", STEPS, "--stage.resolution", self.resolution,
                "--stage.views-per-step", views or self.views, "--checkpoint-every", 1, "--val-every", 100,
                "--quiet", "--turntable-frames", 0,
                f"prior:{self.kind}", "--prior.model", self.folder, "--prior.load.device", "cpu",
                "--prior.load.cache-dir", self.cache)
        return [str(a) for a in args]


@pytest.fixture(scope="module")
def priors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Prior]:
    root = tmp_path_factory.mktemp("priors")
    out = {kind: Prior(kind, root) for kind in PRIORS}
    assert {k: (p.resolution, p.views) for k, p in out.items()} == {
        "stable-diffusion": (16, 1), "deepfloyd-if": (8, 1), "mvdream": (16, 4)}  # latent 8 x VAE 2; IF pixels
    return out


@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The procedural world's red cube as a vertex-coloured PLY (12 faces)."""
    from lift3d.pipelines.evaluate import ground_truth

    path = tmp_path_factory.mktemp("source") / "cube.ply"
    ground_truth("cube", "red").mesh(48).export(path)
    return path


def _state(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "ckpt" / f"step_{STEPS:08d}" / "state.safetensors"))


@pytest.mark.parametrize("mode", ["appearance", "geometry+appearance"])
@pytest.mark.parametrize("kind", PRIORS)
def test_dds_edit_of_a_mesh(kind: str, mode: str, priors: dict[str, Prior], cube: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    prior = priors[kind]

    def argv(out: Path) -> list[str]:
        return [str(cube), "a blue cube", "--source-prompt", "a red cube", "--mode", mode, "--no-export",
                *prior.args(out)]

    a = check_resume(edit.main, argv, tmp_path, monkeypatch)
    assert (a / "config.json").is_file() and (a / "edit.json").is_file()
    assert '"dds"' in (a / "config.json").read_text() and f'"{kind}"' in (a / "config.json").read_text()
    state, source = _state(a), load_mesh(cube)
    colours = state["terms.identity.source.colour"]
    assert not torch.equal(state["rig.scene.colors"], colours)  # the colour was edited
    if mode == "appearance":  # geometry bit for bit: the file's vertices and faces, zero offsets
        assert torch.equal(state["rig.scene.base_vertices"], torch.as_tensor(source.vertices, dtype=torch.float32))
        assert torch.equal(state["rig.scene.faces"], torch.as_tensor(source.faces, dtype=torch.int64))
        assert torch.equal(state["rig.scene.offsets"], torch.zeros_like(state["rig.scene.offsets"]))
    else:  # subdivided to at least --min-faces (2000), and the geometry moved
        assert len(state["rig.scene.faces"]) >= 2000
        assert float(state["rig.scene.offsets"].abs().max()) > 0


def test_dds_appearance_edit_of_splats(priors: dict[str, Prior], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = _splats(tmp_path / "cube.ply")
    prior = priors["stable-diffusion"]

    def argv(out: Path) -> list[str]:
        return [str(tmp_path / "cube.ply"), "a blue cube", "--source-prompt", "a red cube", "--mode", "appearance",
                "--no-export", *prior.args(out)]

    state = _state(check_resume(edit.main, argv, tmp_path, monkeypatch))
    for k in ("means", "quats", "scales", "opacities"):  # geometry bit for bit
        assert torch.equal(state[f"rig.params.{k}"], source.params[k].detach()), k
    assert not torch.equal(state["rig.params.sh0"], source.params["sh0"].detach())


@pytest.mark.parametrize("kind", PRIORS)
def test_sds_texture_of_a_mesh(kind: str, priors: dict[str, Prior], cube: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    prior = priors[kind]

    def argv(out: Path) -> list[str]:
        return [str(cube), "a blue cube", "--texture-size", str(TEXTURE_SIZE), *prior.args(out)]

    a = check_resume(texture.main, argv, tmp_path, monkeypatch)
    assert (a / "config.json").is_file() and (a / "texture.json").is_file()
    assert '"sds"' in (a / "config.json").read_text()
    vertices, faces, _ = mesh_uv(load_mesh(cube))
    state = _state(a)
    assert torch.equal(state["rig.scene.base_vertices"], torch.from_numpy(vertices))  # geometry bit for bit
    assert torch.equal(state["rig.scene.faces"], torch.from_numpy(faces))
    assert torch.equal(state["rig.scene.offsets"], torch.zeros_like(state["rig.scene.offsets"]))
    tex = state["rig.scene.texture"]
    assert tex.shape == (TEXTURE_SIZE, TEXTURE_SIZE, 3) and not torch.equal(tex, torch.full_like(tex, 0.5))
    mesh = next(iter(trimesh.load(a / "export" / "mesh.glb").geometry.values()))
    assert len(mesh.faces) == len(faces)
    image = mesh.visual.material.baseColorTexture
    assert isinstance(image, Image.Image) and image.size == (TEXTURE_SIZE, TEXTURE_SIZE)


@pytest.mark.parametrize("kind", PRIORS)
def test_dds_is_zero_for_an_unchanged_source_and_prompt(kind: str, priors: dict[str, Prior], cube: Path,
                                                        tmp_path: Path) -> None:
    """The source prompt is encoded as the target is: view-suffixed per camera for SD and IF (which take no camera),
    so on the unchanged source with the same prompt DDS is exactly 0. (It was not: the target got ", side view"
    and the source none, and the suffix's score did not cancel.)"""
    from lift3d.guidance import DDSConfig
    from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate, view_dependent
    from lift3d.pipelines.inits import FileInit
    from lift3d.rigs.mesh import MeshScene

    scene = MeshScene(max_faces=12, lr_vertices=0.0, laplacian=0.0, normal_consistency=0.0)
    stage = StageConfig(scene=scene, guidance=DDSConfig(), steps=1, resolution=priors[kind].resolution,
                        views_per_step=priors[kind].views)
    cfg = GenerateConfig(prompt="a red cube", source_prompt="a red cube", prior=priors[kind].spec, stage=stage,
                         refine=None, init=FileInit(cube), output=tmp_path / "run", quiet=True, turntable_frames=0,
                         export=False)
    assert view_dependent(cfg) == (kind != "mvdream")
    (run,) = generate(cfg)
    assert json.loads((run / "metrics.jsonl").read_text())["guidance"] == 0.0


@pytest.mark.parametrize("command", ["edit", "texture"])
def test_mvdream_refuses_views_that_split_a_group(command: str, priors: dict[str, Prior], cube: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = [str(cube), "a blue cube", *(["--source-prompt", "a red cube"] if command == "edit" else []),
            *priors["mvdream"].args(out, views=1)]
    with pytest.raises(LiftError, match="views-per-step 1 is not a multiple of 4") as e:
        {"edit": edit.main, "texture": texture.main}[command](argv)
    assert "\n" not in str(e.value)
    assert not out.exists()
