"""3DGS .ply / .splat writers: exact round trips, layout, axis conventions, SH rotation, CLI errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lift3d.export import SplatData, load_3dgs_ply, load_splat, save_3dgs_ply, save_splat
from lift3d.export.cli import main
from lift3d.export.splats import AXES, SH_C0, ply_property_names, sh_rotation
from lift3d.renderers._splat_sh import sh_to_rgb
from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError


def make_gaussians(n: int = 64, degree: int = 3) -> Gaussians:
    g = Gaussians.random_ball(n, generator=torch.Generator().manual_seed(0), sh_degree=degree)
    with torch.no_grad():
        g.params["shN"].normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
    return g


def fields(s: SplatData) -> list[torch.Tensor]:
    return [s.means, s.quats, s.log_scales, s.opacity_logits, s.sh]


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_gaussians_ply_round_trip_is_exact_in_world_axes(tmp_path, degree):
    g = make_gaussians(degree=degree)
    save_3dgs_ply(SplatData.from_gaussians(g), tmp_path / "g.ply", axes="z_up")
    back = load_3dgs_ply(tmp_path / "g.ply", axes="z_up").to_gaussians()
    for name in ("means", "quats", "scales", "opacities", "sh0", "shN"):
        assert torch.equal(back.params[name], g.params[name]), name


def test_default_axes_round_trip_and_layout(tmp_path):
    s = SplatData.from_gaussians(make_gaussians())
    path = save_3dgs_ply(s, tmp_path / "g.ply")
    for a, b in zip(fields(load_3dgs_ply(path)), fields(s)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    from plyfile import PlyData

    vertex = PlyData.read(str(path))["vertex"]
    names = [p.name for p in vertex.properties]
    assert names == ply_property_names(3) and len(names) == 62  # 45 f_rest for degree 3
    assert all(p.val_dtype in ("float32", "f4") for p in vertex.properties)
    # y_down: file = (x, -z, y); f_rest channel-major: f_rest_0..14 are red degrees 1..3.
    np.testing.assert_allclose(vertex["y"], -s.means[:, 2].numpy(), atol=1e-7)
    np.testing.assert_allclose(vertex["z"], s.means[:, 1].numpy(), atol=1e-7)
    np.testing.assert_array_equal(vertex["f_dc_1"], s.sh[:, 0, 1].numpy())
    rotated = s.rotated(AXES["y_down"])
    np.testing.assert_array_equal(vertex["f_rest_14"], rotated.sh[:, 15, 0].numpy())
    np.testing.assert_array_equal(vertex["f_rest_15"], rotated.sh[:, 1, 1].numpy())


@pytest.mark.parametrize("axes", ["y_down", "y_up"])
def test_axis_change_keeps_view_dependent_colour(axes):
    s = SplatData.from_gaussians(make_gaussians())
    r = s.rotated(AXES[axes])
    rot = torch.tensor(AXES[axes], dtype=torch.float32)
    cams = torch.tensor([[2.0, 1.0, 0.5], [-1.0, 2.0, 3.0], [0.0, -3.0, -1.0]])
    torch.testing.assert_close(sh_to_rgb(3, r.means, cams @ rot.T, r.sh), sh_to_rgb(3, s.means, cams, s.sh),
                               atol=1e-5, rtol=1e-5)


def test_sh_rotation_is_orthogonal_and_band_diagonal():
    d = sh_rotation(torch.tensor(AXES["y_down"]), 3)
    torch.testing.assert_close(d @ d.T, torch.eye(16, dtype=torch.float64), atol=1e-10, rtol=0)
    for lo, hi in ((0, 1), (1, 4), (4, 9), (9, 16)):
        assert float(d[lo:hi, :lo].abs().sum() + d[lo:hi, hi:].abs().sum()) == 0.0


def test_sh_degree_choice_pads_and_truncates(tmp_path):
    s = SplatData.from_gaussians(make_gaussians(degree=1))
    back = load_3dgs_ply(save_3dgs_ply(s, tmp_path / "d3.ply", sh_degree=3, axes="z_up"), axes="z_up")
    assert back.sh_degree == 3 and torch.equal(back.sh[:, :4], s.sh) and not back.sh[:, 4:].any()
    back0 = load_3dgs_ply(save_3dgs_ply(s, tmp_path / "d0.ply", sh_degree=0, axes="z_up"), axes="z_up")
    assert back0.sh_degree == 0 and torch.equal(back0.sh, s.sh[:, :1])


def test_splat_records_sorting_and_quantisation(tmp_path):
    s = SplatData.from_gaussians(make_gaussians(degree=0))
    path = save_splat(s, tmp_path / "g.splat", axes="z_up")
    raw = path.read_bytes()
    assert len(raw) == 32 * len(s)
    rec = np.frombuffer(raw, dtype=[("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
    back = load_splat(path, axes="z_up")
    ref = torch.argsort(  # records sorted by volume * opacity, largest first
        -(s.log_scales.sum(-1).exp() * torch.sigmoid(s.opacity_logits)), stable=True)
    torch.testing.assert_close(back.means, s.means[ref])
    torch.testing.assert_close(back.log_scales, s.log_scales[ref], atol=1e-6, rtol=1e-6)
    rgb = (SH_C0 * s.sh[ref, 0] + 0.5).clamp(0, 1)
    assert float((SH_C0 * back.sh[:, 0] + 0.5 - rgb).abs().max()) <= 0.5 / 255 + 1e-6
    alpha = (torch.sigmoid(s.opacity_logits[ref]) * 255 + 0.5).floor().numpy()
    np.testing.assert_array_equal(rec["rgba"][:, 3], alpha)
    unit = torch.nn.functional.normalize(s.quats[ref], dim=-1)
    assert float((back.quats - unit).abs().max()) <= 0.5 / 128 + 1e-6


def test_cli_converts_and_reports_bad_input(tmp_path, capsys):
    s = SplatData.from_gaussians(make_gaussians(degree=0))
    src = save_3dgs_ply(s, tmp_path / "scene.ply")
    assert main([str(src), "--format", "splat", "--output", str(tmp_path / "positional.splat")]) == 0
    assert main(["--scene", str(src), "--format", "splat"]) == 0
    out = tmp_path / "scene.splat"
    assert out.is_file() and str(out) in capsys.readouterr().out
    torch.testing.assert_close(load_splat(out).means.sort(0).values, s.means.sort(0).values, atol=1e-6, rtol=0)
    with pytest.raises(LiftError, match="already exists"):
        main(["--scene", str(src), "--format", "splat"])
    with pytest.raises(LiftError, match="does not exist"):
        main(["--scene", str(tmp_path / "missing.ply"), "--format", "splat"])
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n")
    with pytest.raises(LiftError):
        main(["--scene", str(bad), "--format", "glb"])
    with pytest.raises(SystemExit):  # tyro rejects an unknown format choice
        main(["--scene", str(src), "--format", "fbx"])
