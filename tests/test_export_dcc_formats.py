"""SPZ, SOG, compressed PLY and KHR_gaussian_splatting GLB against third-party clients: PlayCanvas splat-transform 3.x
reads lift3d's files with the .ply's count and bounds, lift3d reads what splat-transform writes from a lift3d .ply,
and Khronos glTF-Validator finds nothing but the extension's attribute names (glTF-Validator issue #252)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from test_export_dcc import DCC, have_node_clients, node_tools
from test_export_formats import match, random_splats, rotation_error

from lift3d.export.compressed_ply import save_compressed_ply
from lift3d.export.gltf_splats import EXTENSION, save_gltf_splats
from lift3d.export.sog import save_sog
from lift3d.export.splat_files import load_splats
from lift3d.export.splats import SplatData, load_3dgs_ply, save_3dgs_ply
from lift3d.export.spz import save_spz

pytestmark = pytest.mark.dcc
CLI = DCC / "node_modules" / ".bin" / "splat-transform"


def scene() -> SplatData:
    s = random_splats(700, 3, seed=1)
    return SplatData(s.means * 0.8, s.quats, s.log_scales, s.opacity_logits.abs() + 0.5, s.sh * 0.5)


def columns(report: dict, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(report["columns"][n], dtype=np.float64) for n in names], 1)


def test_splat_transform_reads_our_spz_sog_and_compressed_ply(tmp_path: Path) -> None:
    s = scene()
    ply = save_3dgs_ply(s, tmp_path / "s.ply")
    files = [ply, save_spz(s, tmp_path / "s.spz"), save_sog(s, tmp_path / "s.sog")[0],
             save_sog(s, tmp_path / "sog" / "meta.json")[0] if (tmp_path / "sog").mkdir() is None else None,
             save_compressed_ply(s, tmp_path / "s.compressed.ply")]
    reports = node_tools("read_splat.mjs", files)
    base = reports[ply]
    box = columns(base, ["x", "y", "z"])
    for path in files[1:]:
        got = reports[path]
        assert "error" not in got, got
        assert got["numTables"] == 1 and got["numRows"] == base["numRows"] == len(s), path
        xyz = columns(got, ["x", "y", "z"])
        tol = 2e-3 if path.suffix == ".ply" else 2e-4 if path.suffix == ".spz" else 1e-3
        assert np.allclose(xyz.min(0), box.min(0), atol=tol) and np.allclose(xyz.max(0), box.max(0), atol=tol), path
        assert len([n for n in got["names"] if n.startswith("f_rest_")]) == 45
        alpha = lambda r: np.sort(1 / (1 + np.exp(-columns(r, ["opacity"])[:, 0])))  # noqa: E731
        assert np.abs(alpha(got) - alpha(base)).max() < 1.5 / 255, path


def test_lift3d_reads_what_splat_transform_writes(tmp_path: Path) -> None:
    if not have_node_clients():
        pytest.skip("node clients not installed: run tools/dcc/install.sh")
    s = scene()
    ply = save_3dgs_ply(s, tmp_path / "s.ply")
    outputs = [tmp_path / "st.spz", tmp_path / "st.sog", tmp_path / "st.compressed.ply"]
    for out in outputs:
        run = subprocess.run(["node", str(CLI), "-q", "-w", "-g", "cpu", str(ply), str(out)], capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0 and out.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    ref = load_3dgs_ply(ply)
    for out in outputs:
        got = match(load_splats(out), ref)
        assert len(got) == len(ref), out
        tol = {".spz": 2e-4, ".sog": 2e-3}.get(out.suffix, 5e-3)
        assert (got.means - ref.means).abs().max() < tol, out
        assert (torch.sigmoid(got.opacity_logits) - torch.sigmoid(ref.opacity_logits)).abs().max() < 3 / 255, out
        assert (got.sh[:, 0] - ref.sh[:, 0]).abs().mean() < 0.02 and (got.log_scales - ref.log_scales).abs().mean() < 0.03
        assert rotation_error(got.quats, ref.quats) < 0.03 and got.sh_degree == 3, out


def test_gltf_validator_only_rejects_the_extension_attribute_names(tmp_path: Path) -> None:
    s = scene()
    path = save_gltf_splats(s, tmp_path / "s.glb")
    report = node_tools("validate_gltf.mjs", [path])[path]
    errors = [m for m in report["messages"] if m["severity"] == 0]
    extension_attributes = 3 + 16  # ROTATION, SCALE, OPACITY and the 16 SH coefficients of degree 3
    assert report["numErrors"] == len(errors) == extension_attributes
    assert {m["code"] for m in errors} == {"MESH_PRIMITIVE_INVALID_ATTRIBUTE"}
    assert sorted(m["pointer"] for m in errors) == sorted(
        f"/meshes/0/primitives/0/attributes/{EXTENSION}:{name}" for name in
        ["ROTATION", "SCALE", "OPACITY", *(f"SH_DEGREE_{d}_COEF_{n}" for d in range(4) for n in range(2 * d + 1))])
    assert report["numWarnings"] == 0
    assert {m["code"] for m in report["messages"] if m["severity"] > 0} <= {"UNSUPPORTED_EXTENSION"}
