"""Import of files lift3d did not write: Blender's own GLB/OBJ exports and splat-transform's 3DGS ``.ply``.

Blender 3.4 and splat-transform come from ``tools/dcc/install.sh``; each test skips with the reason when its
client is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from test_export_dcc import CLEAN_PATH, DCC, have_node_clients

from lift3d.export.cli import main as export_main
from lift3d.export.formats import load_mesh
from lift3d.export.splat_files import load_splats
from lift3d.export.splats import SplatData, save_3dgs_ply
from lift3d.scenes.gaussians import Gaussians

pytestmark = pytest.mark.dcc


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Blender's Suzanne and UV sphere, textured, as GLB and OBJ (tools/dcc/blender_make_foreign.py)."""
    blender = shutil.which("blender", path=CLEAN_PATH)
    if blender is None:
        pytest.skip("Blender not installed: run tools/dcc/install.sh")
    out = tmp_path_factory.mktemp("foreign")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = CLEAN_PATH
    run = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                          str(DCC / "blender_make_foreign.py"), "--", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    lines = [line.split(" ", 1)[1] for line in run.stdout.splitlines() if line.startswith("DCC_FOREIGN ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    return out, json.loads(lines[0])


FILES = [(model, suffix) for model in ("suzanne", "sphere") for suffix in (".glb", ".obj")]


def texture_size(mesh: trimesh.Trimesh) -> tuple[int, int]:
    material = mesh.visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    assert image is not None, f"no texture on {material}"
    return image.size


@pytest.mark.parametrize("model, suffix", FILES)
def test_loader_reads_blender_files_upright_with_textures(foreign: tuple[Path, dict], model: str,
                                                          suffix: str) -> None:
    folder, truth = foreign
    mesh = load_mesh(folder / f"{model}{suffix}")
    expected = truth[model]
    assert len(mesh.faces) == expected["triangles"]
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv is not None
    assert len(mesh.visual.uv) == len(mesh.vertices)
    assert 0.0 <= mesh.visual.uv.min() and mesh.visual.uv.max() <= 1.0
    assert texture_size(mesh) == tuple(expected["texture"])
    # +Y up in the file -> lift3d's +Z up: Blender's (also +Z-up) world bounds, off-centre in every axis
    np.testing.assert_allclose(mesh.bounds, [expected["bbox_min"], expected["bbox_max"]], atol=1e-4)


@pytest.mark.parametrize("model, suffix", FILES)
@pytest.mark.parametrize("fmt", ["glb", "ply"])
def test_lift3d_export_converts_blender_files(foreign: tuple[Path, dict], tmp_path: Path, model: str,
                                              suffix: str, fmt: str, capsys: pytest.CaptureFixture) -> None:
    folder, truth = foreign
    target = tmp_path / f"{model}_{suffix[1:]}.{fmt}"
    assert export_main([str(folder / f"{model}{suffix}"), "--format", fmt, "--output", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    back = load_mesh(target)
    assert len(back.faces) == truth[model]["triangles"]
    np.testing.assert_allclose(back.bounds, [truth[model]["bbox_min"], truth[model]["bbox_max"]], atol=1e-4)
    if fmt == "glb":
        assert texture_size(back) == tuple(truth[model]["texture"])
    else:  # PLY: the texture sampled into vertex colours (the red channel follows u across the image)
        colors = np.asarray(back.visual.vertex_colors)
        assert colors.shape == (len(back.vertices), 4) and np.ptp(colors[:, 0]) > 100


def test_splat_transform_ply_with_sh_degree_3_reads_back(tmp_path: Path) -> None:
    if not have_node_clients():
        pytest.skip("node clients not installed: run tools/dcc/install.sh")
    g = Gaussians.random_ball(257, generator=torch.Generator().manual_seed(5), sh_degree=3)
    ours = SplatData.from_gaussians(g)
    source = tmp_path / "lift3d.ply"
    save_3dgs_ply(ours, source)
    theirs = tmp_path / "splat_transform.ply"
    run = subprocess.run([str(DCC / "node_modules" / ".bin" / "splat-transform"), str(source), str(theirs)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and theirs.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    assert theirs.read_bytes() != source.read_bytes()  # their writer, not a copy
    back = load_splats(theirs)
    assert len(back) == 257
    assert back.sh.shape == (257, 16, 3)  # SH degree 3 kept
    mine = load_splats(source)
    order = np.lexsort(back.means.numpy().T)
    ref = np.lexsort(mine.means.numpy().T)
    np.testing.assert_allclose(back.means.numpy()[order], mine.means.numpy()[ref], atol=1e-5)
    np.testing.assert_allclose(back.sh.numpy()[order], mine.sh.numpy()[ref], atol=1e-4)
