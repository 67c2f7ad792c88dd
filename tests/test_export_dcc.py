"""Exports opened by real third-party clients: Khronos glTF-Validator, Blender 3.4, PlayCanvas splat-transform.

Install the clients with ``tools/dcc/install.sh``; each test skips with the reason when its client is missing.
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

from lift3d.export import SplatData, field_to_mesh, save_3dgs_ply, save_mesh, save_splat
from lift3d.export.splats import AXES, SH_C0
from lift3d.scenes.gaussians import Gaussians

pytestmark = pytest.mark.dcc
DCC = Path(__file__).resolve().parents[1] / "tools" / "dcc"
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"  # Blender must not pick up a venv's python3.11 (docs/export.md)


def have_node_clients() -> bool:
    """Whether node and the npm clients of tools/dcc/install.sh are installed."""
    return shutil.which("node") is not None and (DCC / "node_modules").is_dir()


def have_blender() -> bool:
    return shutil.which("blender", path=CLEAN_PATH) is not None


def node_tools(script: str, paths: list[Path], *flags: str) -> dict[Path, dict]:
    """Run ``tools/dcc/SCRIPT`` once on all ``paths``; its JSON line for each path."""
    if not have_node_clients():
        pytest.skip("node clients not installed: run tools/dcc/install.sh")
    out = subprocess.run(["node", str(DCC / script), *flags, *map(str, paths)], capture_output=True, text=True,
                         timeout=120 + 10 * len(paths))
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["file"] for r in reports] == [str(p) for p in paths], out.stdout[-3000:] + out.stderr[-3000:]
    return {Path(r["file"]): r for r in reports}


def node_tool(script: str, path: Path) -> dict:
    report = node_tools(script, [path])[path]
    assert "error" not in report, report["error"]
    return report


def blender_imports(paths: list[Path]) -> dict[Path, dict]:
    """Import every file in one headless Blender (tools/dcc/blender_import.py); its result for each path."""
    blender = shutil.which("blender", path=CLEAN_PATH)
    if blender is None:
        pytest.skip("Blender not installed: run tools/dcc/install.sh")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = CLEAN_PATH
    out = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                          str(DCC / "blender_import.py"), "--", *map(str, paths)], capture_output=True, text=True,
                         env=env, timeout=300 + 10 * len(paths))
    results = [json.loads(line.split(" ", 1)[1]) for line in out.stdout.splitlines() if line.startswith("DCC_RESULT ")]
    assert [r["file"] for r in results] == [str(p) for p in paths], out.stdout[-3000:] + out.stderr[-3000:]
    return {Path(r["file"]): r for r in results}


def blender_import(path: Path) -> dict:
    got = blender_imports([path])[path]
    assert "error" not in got, got["error"]
    return got


@pytest.fixture(scope="module")
def asset():
    """A textured, non-symmetric object: tall along lift3d's +Z so 'upright' is testable."""
    def sdf(p):  # ellipsoid-ish: half extents 0.3, 0.45, 0.7
        return (p / torch.tensor([0.3, 0.45, 0.7])).norm(dim=-1) - 1.0

    def albedo(p):
        return 0.5 + 0.4 * torch.sin(6.0 * p)

    return field_to_mesh(sdf, albedo, (-1, -1, -1, 1, 1, 1), 40, kind="sdf", target_faces=1500, texture_size=128)


def test_gltf_validator_reports_no_errors(tmp_path, asset):
    path = save_mesh(asset, tmp_path / "asset.glb")[0]
    report = node_tool("validate_gltf.mjs", path)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    assert report["info"]["hasTextures"] and report["info"]["totalTriangleCount"] == len(asset.faces)


@pytest.mark.parametrize("suffix", [".glb", ".obj", ".ply"])
def test_blender_imports_upright_with_same_counts_and_bounds(tmp_path, asset, suffix):
    path = save_mesh(asset, tmp_path / f"asset{suffix}")[0]
    got = blender_import(path)
    assert got["triangles"] == len(asset.faces)
    assert got["vertices"] == len(asset.vertices)  # already split at UV seams by the unwrap
    # Blender is +Z up like lift3d: bounds agree exactly, so the tall axis stays on Z (upright).
    np.testing.assert_allclose(got["bbox_min"], asset.bounds[0], atol=1e-5)
    np.testing.assert_allclose(got["bbox_max"], asset.bounds[1], atol=1e-5)
    assert np.argmax(np.subtract(got["bbox_max"], got["bbox_min"])) == 2
    if suffix == ".ply":
        assert got["has_colors"]
    else:
        assert got["has_uv"] and got["has_image"] and got["base_color_image"] and got["materials"] == 1


def splats() -> SplatData:
    g = Gaussians.random_ball(300, generator=torch.Generator().manual_seed(3), sh_degree=3)
    with torch.no_grad():
        g.params["shN"].normal_(0.0, 0.2, generator=torch.Generator().manual_seed(4))
    return SplatData.from_gaussians(g)


def test_splat_reader_reads_our_ply_values(tmp_path):
    s = splats()
    path = save_3dgs_ply(s, tmp_path / "scene.ply")  # default y_down
    got = node_tool("read_splat.mjs", path)
    assert got["numRows"] == len(s) and len(got["columns"]) == 62
    f = s.rotated(AXES["y_down"])
    cols = got["columns"]
    expect = {"x": f.means[:, 0], "y": f.means[:, 1], "z": f.means[:, 2], "opacity": f.opacity_logits,
              "scale_2": f.log_scales[:, 2], "rot_0": f.quats[:, 0], "rot_3": f.quats[:, 3],
              "f_dc_2": f.sh[:, 0, 2], "f_rest_0": f.sh[:, 1, 0], "f_rest_44": f.sh[:, 15, 2]}
    for name, ref in expect.items():
        np.testing.assert_array_equal(np.asarray(cols[name], np.float32), ref.numpy(), err_msg=name)
    # Upright in PlayCanvas/SuperSplat: their view maps file (x, y, z) -> (-x, -y, z); lift3d's +Z becomes view +Y.
    view_y = -np.asarray(cols["y"])
    np.testing.assert_allclose(view_y, s.means[:, 2].numpy(), atol=1e-6)


def test_splat_reader_reads_our_splat_records(tmp_path):
    s = splats()
    path = save_splat(s, tmp_path / "scene.splat")
    got = node_tool("read_splat.mjs", path)
    assert got["numRows"] == len(s)
    f = s.rotated(AXES["y_down"])
    order = torch.argsort(-(f.log_scales.sum(-1).exp() * torch.sigmoid(f.opacity_logits)), stable=True)
    cols = {k: np.asarray(v, np.float32) for k, v in got["columns"].items()}
    np.testing.assert_array_equal(np.stack([cols["x"], cols["y"], cols["z"]], 1), f.means[order].numpy())
    np.testing.assert_allclose(cols["scale_0"], f.log_scales[order, 0].numpy(), atol=1e-5)
    rgb = (SH_C0 * f.sh[order, 0, 1] + 0.5).clamp(0, 1).numpy()
    np.testing.assert_allclose(SH_C0 * cols["f_dc_1"] + 0.5, rgb, atol=0.6 / 255)
    alpha = torch.sigmoid(f.opacity_logits[order]).numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-cols["opacity"])), alpha, atol=0.6 / 255)
