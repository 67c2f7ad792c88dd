"""SPZ, SOG, compressed PLY and KHR_gaussian_splatting GLB against third-party clients: PlayCanvas splat-transform 3.x
reads lift3d's files with the .ply's count and bounds, lift3d reads what splat-transform writes from a lift3d .ply
(attributes within quantisation, and renders: lift3d's own SPZ/SOG writers within 0.5 dB of splat-transform's or
better), and Khronos glTF-Validator finds nothing but the extension's attribute names (glTF-Validator issue #252)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from test_export_dcc import DCC, have_node_clients, node_tools
from test_export_formats import match, random_splats, rotation_error

from lift3d.cameras import Cameras
from lift3d.export.compressed_ply import save_compressed_ply
from lift3d.export.gltf_splats import EXTENSION, save_gltf_splats
from lift3d.export.sog import save_sog
from lift3d.export.splat_files import load_splats
from lift3d.export.splats import SplatData, load_3dgs_ply, save_3dgs_ply
from lift3d.export.spz import save_spz
from lift3d.renderers import GaussianRenderer

pytestmark = pytest.mark.dcc
CLI = DCC / "node_modules" / ".bin" / "splat-transform"


def scene() -> SplatData:
    s = random_splats(700, 3, seed=1)
    return SplatData(s.means * 0.8, s.quats, s.log_scales, s.opacity_logits.abs() + 0.5, s.sh * 0.5)


def splat_transform(source: Path, out: Path) -> Path:
    """``source`` converted by the splat-transform CLI (CPU; its SOG SH k-means runs 10 iterations)."""
    if not have_node_clients():
        pytest.skip("node clients not installed: run tools/dcc/install.sh")
    run = subprocess.run(["node", str(CLI), "-q", "-w", "-g", "cpu", str(source), str(out)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0 and out.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    return out


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
    outputs = [splat_transform(ply, tmp_path / name) for name in ("st.spz", "st.sog", "st.compressed.ply")]
    ref = load_3dgs_ply(ply)
    for out in outputs:
        got = match(load_splats(out), ref)
        assert len(got) == len(ref), out
        tol = {".spz": 2e-4, ".sog": 2e-3}.get(out.suffix, 5e-3)
        assert (got.means - ref.means).abs().max() < tol, out
        assert (torch.sigmoid(got.opacity_logits) - torch.sigmoid(ref.opacity_logits)).abs().max() < 3 / 255, out
        assert (got.sh[:, 0] - ref.sh[:, 0]).abs().mean() < 0.02 and (got.log_scales - ref.log_scales).abs().mean() < 0.03
        assert rotation_error(got.quats, ref.quats) < 0.03 and got.sh_degree == 3, out


def object_scene(n: int, degree: int, seed: int = 0) -> SplatData:
    """A splat object like a fitted one: ``n`` Gaussians filling the unit ball, about their spacing in size
    (log-normal, anisotropic, random rotations), mostly opaque, random base colours and view-dependent SH
    coefficients of std 0.08 (fitted scenes' higher bands are small)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = means * torch.rand(n, 1, generator=g) ** (1 / 3)
    log_scales = math.log(0.6 * n ** (-1 / 3)) + 0.4 * torch.randn(n, 3, generator=g)
    sh = torch.randn(n, (degree + 1) ** 2, 3, generator=g) * 0.08
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814  # base colour uniform in [0, 1]
    return SplatData(means, torch.randn(n, 4, generator=g), log_scales, 1.0 + 1.5 * torch.randn(n, generator=g), sh)


VIEWS = Cameras.from_spherical(torch.tensor([15.0, -10.0, 40.0, 0.0]), torch.tensor([0.0, 90.0, 200.0, 300.0]),
                               3.0, 40.0, 96)


def render(s: SplatData) -> torch.Tensor:
    """lift3d's Gaussian renderer (CPU rasterizer) over white, 4 views of 96 px around the object."""
    with torch.no_grad():
        return GaussianRenderer()(s.to_gaussians(), VIEWS).rgb.double().clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean().clamp_min(1e-20)))


# Lower bounds (dB) on the PSNR of each file's render against the .ply's, about 1.5 dB under the lower of the two
# writers' measured figures (docs/export.md; splat-transform's SOG SH k-means is not deterministic: 35.5-35.9 dB
# at SH degree 3).
FLOORS = {(0, ".spz"): 47.5, (0, ".sog"): 57.5, (3, ".spz"): 34.0, (3, ".sog"): 34.0}


@pytest.mark.parametrize("degree", [0, 3])
def test_lift3d_renders_splat_transforms_spz_and_sog_like_its_own(tmp_path: Path, degree: int) -> None:
    """The issue's check: splat-transform's SPZ and SOG of a lift3d .ply, read by lift3d and rendered by lift3d,
    against the render of the .ply. (1) lift3d reads each file as splat-transform itself decodes it: the render
    equals that of splat-transform's own conversion of the file back to .ply. (2) Each render is above its floor.
    (3) "Within 0.5 dB": the PSNR (against the .ply's render) of lift3d's own SPZ/SOG writer is at most 0.5 dB
    under that of splat-transform's file of the same format. It may be above it: splat-transform 3.10's SOG
    writer truncates quaternions and opacity to 8 bits where lift3d rounds, which costs its SOG about 3 dB at SH
    degree 0 (made to truncate, lift3d's SOG renders within 0.1 dB of it); its SPZ decodes to the same values as
    lift3d's, so the two SPZ renders must agree within 0.5 dB both ways."""
    s = object_scene(3000, degree)
    ply = save_3dgs_ply(s, tmp_path / "s.ply")
    ref = render(load_3dgs_ply(ply))
    ours = {".spz": save_spz(s, tmp_path / "lift3d.spz"), ".sog": save_sog(s, tmp_path / "lift3d.sog")[0]}
    measured = {}
    for suffix, own in ours.items():
        theirs = splat_transform(ply, tmp_path / f"st{suffix}")
        got = load_splats(theirs)
        assert len(got) == len(s) and got.sh_degree == degree, theirs
        image = render(got)
        decoded = render(load_3dgs_ply(splat_transform(theirs, tmp_path / f"st{suffix}.ply")))
        assert psnr(image, decoded) > 90, (suffix, psnr(image, decoded))  # (1) read as splat-transform reads it
        p_theirs, p_ours = psnr(image, ref), psnr(render(load_splats(own)), ref)
        measured[suffix] = (round(p_ours, 2), round(p_theirs, 2))
        assert min(p_theirs, p_ours) >= FLOORS[degree, suffix], (suffix, measured)  # (2)
        assert p_ours >= p_theirs - 0.5, (suffix, measured)  # (3)
        if suffix == ".spz":
            assert abs(p_ours - p_theirs) <= 0.5, measured
    print(f"SH degree {degree}: PSNR vs .ply render (lift3d writer, splat-transform) {measured}")


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
