"""lift3d texture: end to end through ``main`` on the tiny bundled prior, exact resume, the geometry kept bit for
bit with every face, the textured GLB, the mesh's own UVs, and the one-line refusals that write nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from safetensors.torch import load_file
from test_edit import STEPS, _splats, check_resume, tiny_args

from lift3d.export.formats import load_mesh, save_glb
from lift3d.pipelines import texture
from lift3d.rigs.texture import TextureScene, mesh_uv
from lift3d.types import LiftError


def _sphere(path: Path) -> Path:
    """A vertex-coloured icosphere GLB without UVs (so the texture rig unwraps it with xatlas)."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    mesh.visual.vertex_colors = np.tile([90, 90, 200, 255], (len(mesh.vertices), 1)).astype(np.uint8)
    return save_glb(mesh, path)


def _args(prior: Path, out: Path, size: int = 32) -> list[str]:
    return [*tiny_args(prior, out, asset=False), "--texture-size", str(size)]


def test_texture_runs_resumes_exactly_and_keeps_the_mesh(tiny_bundled_prior: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sphere = _sphere(tmp_path / "ball.glb")

    def argv(out: Path) -> list[str]:
        return [str(sphere), "a red ball", *_args(tiny_bundled_prior, out)]

    a = check_resume(texture.main, argv, tmp_path, monkeypatch)
    source = load_mesh(sphere)
    vertices, faces, uv = mesh_uv(source)
    state = load_file(str(a / "ckpt" / f"step_{STEPS:08d}" / "state.safetensors"))
    assert torch.equal(state["rig.scene.base_vertices"], torch.from_numpy(vertices))  # geometry bit for bit
    assert torch.equal(state["rig.scene.offsets"], torch.zeros_like(state["rig.scene.offsets"]))
    assert torch.equal(state["rig.scene.faces"], torch.from_numpy(faces))
    tex = state["rig.scene.texture"]
    assert tex.shape == (32, 32, 3) and not torch.equal(tex, torch.full_like(tex, 0.5))  # the texture was painted
    glb = trimesh.load(a / "export" / "mesh.glb")
    mesh = next(iter(glb.geometry.values()))
    assert len(mesh.faces) == len(source.faces)  # every face kept
    image = mesh.visual.material.baseColorTexture
    assert isinstance(image, Image.Image) and image.size == (32, 32)
    assert (a / "export" / "mesh.obj").is_file() and (a / "export" / "mesh.png").is_file()
    assert (a / "texture.json").is_file()


def test_a_mesh_keeps_its_own_uvs() -> None:
    mesh = trimesh.creation.box((1.0, 1.0, 1.0))
    uv = np.random.default_rng(0).random((len(mesh.vertices), 2)).astype(np.float32)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv)
    rig = TextureScene(texture_size=8).build_from(mesh, torch.device("cpu"))
    assert torch.equal(rig.scene.uv, torch.from_numpy(uv))
    assert torch.equal(rig.scene.faces, torch.from_numpy(np.asarray(mesh.faces)))


@pytest.mark.parametrize("case", ["no faces", "splats", "too large", "empty prompt", "dds", "not a file"])
def test_bad_input_is_one_line_and_writes_nothing(case: str, tiny_bundled_prior: Path, tmp_path: Path) -> None:
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    _splats(tmp_path / "cube.ply")
    ball = str(_sphere(tmp_path / "ball.glb"))
    argv, message = {
        "no faces": ([str(tmp_path / "flat.obj"), "a red ball"], "no faces"),
        "splats": ([str(tmp_path / "cube.ply"), "a red ball"], "splats, not a mesh"),
        "too large": ([ball, "a red ball"], "GiB"),
        "empty prompt": ([ball, ""], "prompt is empty"),
        "dds": ([ball, "a red ball", "stage.guidance:dds"], "source scene"),
        "not a file": ([str(tmp_path), "a red ball"], "not a mesh file"),
    }[case]
    out = tmp_path / "run"
    with pytest.raises(LiftError, match=message) as e:
        texture.main([*argv, *_args(tiny_bundled_prior, out, 1_000_000 if case == "too large" else 32)])
    assert "\n" not in str(e.value)
    assert not out.exists()
