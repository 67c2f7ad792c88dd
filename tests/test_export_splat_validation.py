"""Splat files that cannot be used end in one line on stderr, a non-zero exit and no output file:
NaN/inf values, zero-length quaternions, empty files, truncated files, PLYs without 3DGS properties."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lift3d.cli import main
from lift3d.export import SplatData, load_3dgs_ply, load_splat, save_3dgs_ply, save_splat
from lift3d.scenes.gaussians import Gaussians
from lift3d.scenes.gaussians_ply import SplatFileError, load_ply
from lift3d.types import LiftError

N = 300


def splats() -> SplatData:
    g = Gaussians.random_ball(N, generator=torch.Generator().manual_seed(0), sh_degree=1)
    return SplatData.from_gaussians(g)


def broken(field: str, rows: slice, value: float, index: tuple = ()) -> SplatData:
    """``splats()`` with ``value`` written into ``field[rows, *index]``."""
    s = splats()
    getattr(s, field)[(rows, *index)] = value
    return s


def export_fails(path: Path, out: Path, capsys: pytest.CaptureFixture, fmt: str = "glb") -> str:
    """Run ``lift3d export PATH --format FMT`` into the empty folder ``out``; the one stderr line."""
    out.mkdir()
    capsys.readouterr()
    code = main(["export", str(path), "--format", fmt, "--output", str(out / f"scene.{fmt.split('-')[-1]}")])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0 and len(lines) == 1, captured.err
    assert list(out.iterdir()) == [] and captured.out == ""
    assert str(path) in lines[0] and "Traceback" not in captured.err
    return lines[0]


CASES = {
    "nan-positions": (broken("means", slice(0, 12), math.nan), "12 of 300 Gaussians have non-finite positions"),
    "inf-scales": (broken("log_scales", slice(5, 6), math.inf, (1,)), "1 of 300 Gaussians has non-finite scales"),
    "nan-rotations": (broken("quats", slice(0, 3), math.nan, (2,)), "3 of 300 Gaussians have non-finite rotations"),
    "zero-quaternions": (broken("quats", slice(10, 14), 0.0), "4 of 300 Gaussians have zero-length rotation"),
    "nan-opacities": (broken("opacity_logits", slice(0, 2), math.nan), "2 of 300 Gaussians have non-finite opac"),
    "inf-dc-colours": (broken("sh", slice(7, 8), -math.inf, (0, 1)), "1 of 300 Gaussians has non-finite colours"),
    "nan-sh-colours": (broken("sh", slice(0, 9), math.nan, (3, 2)), "9 of 300 Gaussians have non-finite colours"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_gaussians_in_a_3dgs_ply_are_one_line(case: str, tmp_path: Path, capsys) -> None:
    data, message = CASES[case]
    path = save_3dgs_ply(data, tmp_path / "scene.ply", axes="z_up")
    line = export_fails(path, tmp_path / "out", capsys)
    assert line.startswith("lift3d export: error: ") and message in line and "--drop-invalid" in line


def test_several_problems_are_all_named(tmp_path: Path, capsys) -> None:
    s = broken("means", slice(0, 2), math.nan)
    s.quats[100:101] = 0.0
    line = export_fails(save_3dgs_ply(s, tmp_path / "scene.ply"), tmp_path / "out", capsys, "splat")
    assert "2 of 300 Gaussians have non-finite positions, 1 of 300 Gaussians has zero-length" in line


@pytest.mark.parametrize("case", ["nan-positions", "inf-scales", "zero-quaternions"])
def test_invalid_gaussians_in_a_splat_file_are_one_line(case: str, tmp_path: Path, capsys) -> None:
    data, message = CASES[case]
    s = splats()
    path = save_splat(s, tmp_path / "scene.splat", axes="z_up")
    raw = np.frombuffer(path.read_bytes(), dtype=[("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4),
                                                  ("rot", "u1", 4)]).copy()
    if case == "nan-positions":
        raw["pos"][:12] = np.nan
    elif case == "inf-scales":
        raw["scale"][5, 1] = np.inf
    else:
        raw["rot"][10:14] = 128  # (w, x, y, z) * 128 + 128 of the zero quaternion
    path.write_bytes(raw.tobytes())
    assert message in export_fails(path, tmp_path / "out", capsys)


@pytest.mark.parametrize("name, content", [
    ("empty.ply", b""),
    ("empty.splat", b""),
    ("no_vertices.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 0\n"
                        + b"".join(f"property float {p}\n".encode() for p in
                                   ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
                                    "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]) + b"end_header\n"),
    ("points.ply", b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                   b"property float z\nend_header\n0 0 0\n1 1 1\n"),
    ("no_rotations.ply", b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                         b"property float z\nproperty float f_dc_0\nend_header\n0 0 0 0\n"),
])
def test_empty_and_non_3dgs_files_are_one_line(name: str, content: bytes, tmp_path: Path, capsys) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = export_fails(path, tmp_path / "out", capsys)
    hint = {"empty": "export it again", "no_vertices": "holds no Gaussians", "points": "no triangle mesh",
            "no_rotations": "missing properties ['f_dc_1'"}[name.split(".")[0]]
    assert hint in line or (name == "empty.splat" and "holds no Gaussians" in line), line


def test_truncated_3dgs_ply_is_one_line(tmp_path: Path, capsys) -> None:
    path = save_3dgs_ply(splats(), tmp_path / "scene.ply")
    path.write_bytes(path.read_bytes()[:-1000])
    assert "corrupt or truncated" in export_fails(path, tmp_path / "out", capsys, "splat")


def test_drop_invalid_skips_them_with_a_warning(tmp_path: Path, capsys) -> None:
    s = broken("means", slice(0, 12), math.nan)
    s.quats[20:21] = 0.0
    path = save_3dgs_ply(s, tmp_path / "scene.ply", axes="z_up")
    out = tmp_path / "clean.ply"
    code = main(["export", str(path), "--format", "splat-ply", "--splat-axes", "z_up", "--drop-invalid",
                 "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.strip() == str(out)
    (warning,) = captured.err.strip().splitlines()
    assert warning.startswith("warning: ") and "dropped 13 invalid Gaussians" in warning
    back = load_3dgs_ply(out, axes="z_up")
    keep = torch.ones(N, dtype=torch.bool)
    keep[:12] = keep[20] = False
    assert len(back) == N - 13 and torch.equal(back.means, s.means[keep])


def test_all_invalid_is_refused_even_with_drop_invalid(tmp_path: Path) -> None:
    path = save_3dgs_ply(broken("means", slice(None), math.nan), tmp_path / "scene.ply")
    with pytest.raises(LiftError, match="no valid Gaussian is left"):
        load_3dgs_ply(path, drop_invalid=True)


def test_library_readers_raise_lift_and_value_errors(tmp_path: Path) -> None:
    """``SplatFileError`` is a ``LiftError`` (one CLI line) and a ``ValueError`` (what ``load_ply`` documented)."""
    path = save_3dgs_ply(broken("opacity_logits", slice(0, 1), math.nan), tmp_path / "scene.ply", axes="z_up")
    for read in (load_3dgs_ply, load_ply):
        with pytest.raises(SplatFileError, match="1 of 300 Gaussians has non-finite opacities") as info:
            read(path)
        assert isinstance(info.value, LiftError) and isinstance(info.value, ValueError)
    assert len(load_ply(path, drop_invalid=True)) == N - 1
    splat = save_splat(splats(), tmp_path / "scene.splat")
    assert len(load_splat(splat)) == N  # valid files are untouched
