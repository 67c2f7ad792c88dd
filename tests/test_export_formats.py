"""Round trips of the compressed splat formats (SPZ, SOG, SuperSplat compressed PLY, KHR_gaussian_splatting GLB)
within the quantisation bounds their module docstrings derive, the CLI and the splat loader."""

from __future__ import annotations

import math

import pytest
import torch

from lift3d.export.compressed_ply import load_compressed_ply, save_compressed_ply
from lift3d.export.gltf_splats import load_gltf_splats, save_gltf_splats
from lift3d.export.sog import load_sog, save_sog
from lift3d.export.splat_files import load_splats, splat_kind, write_splat_set
from lift3d.export.splats import SplatData, save_3dgs_ply
from lift3d.export.spz import decode_spz, encode_spz, load_spz, save_spz
from lift3d.types import LiftError


def random_splats(n: int, degree: int, seed: int = 0) -> SplatData:
    g = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    return SplatData(torch.randn(n, 3, generator=g), torch.randn(n, 4, generator=g),
                     torch.randn(n, 3, generator=g) * 0.5 - 3, torch.randn(n, generator=g) * 2,
                     torch.rand(n, k, 3, generator=g) * 1.9 - 0.95)


def match(a: SplatData, b: SplatData) -> SplatData:
    """``a`` reordered to ``b``'s order (formats that sort splats): nearest position."""
    from scipy.spatial import cKDTree

    return a.select(torch.ones(len(a), dtype=torch.bool)) if len(a) != len(b) else \
        SplatData(*(t[torch.from_numpy(cKDTree(a.means.numpy()).query(b.means.numpy())[1])] for t in a.fields()))


def rotation_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest angle (radians) between the rotations of quaternion sets ``a`` and ``b``."""
    dot = (torch.nn.functional.normalize(a.double(), dim=-1) * torch.nn.functional.normalize(b.double(), dim=-1)).sum(-1)
    return float(2 * torch.acos(dot.abs().clamp(max=1)).max())


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("version", [3, 4])
def test_spz_round_trip_within_quantisation(degree: int, version: int) -> None:
    s = random_splats(3000, degree)
    d = decode_spz(encode_spz(s, version))
    assert len(d) == len(s) and d.sh_degree == degree
    assert (d.means - s.means).abs().max() <= 2.0**-13 + 1e-7
    assert (torch.sigmoid(d.opacity_logits) - torch.sigmoid(s.opacity_logits)).abs().max() <= 0.5 / 255 + 1e-6
    assert (d.sh[:, 0] - s.sh[:, 0]).abs().max() <= 0.5 / 38.25 + 1e-5
    assert (d.log_scales - s.log_scales).abs().max() <= 1 / 32 + 1e-5
    # 3 components off by <= h = sqrt(1/2)/1022, the re-derived largest (>= 1/2) by <= sqrt(3) h: angle <= 2 sqrt(6) h
    assert rotation_error(d.quats, s.quats) <= 2 * math.sqrt(6) * math.sqrt(0.5) / 1022
    if degree:
        assert (d.sh[:, 1:4] - s.sh[:, 1:4]).abs().max() <= 4.5 / 128 + 1e-6
    if degree > 1:
        assert (d.sh[:, 4:] - s.sh[:, 4:]).abs().max() <= 8.5 / 128 + 1e-6


def test_spz_file_axes_and_refusals(tmp_path) -> None:
    s = random_splats(200, 1)
    for axes in ("y_down", "y_up", "z_up"):
        got = load_spz(save_spz(s, tmp_path / f"{axes}.spz", axes=axes), axes=axes)
        assert (got.means - s.means).abs().max() < 2e-4
    raw = decode_spz((tmp_path / "y_down.spz").read_bytes())  # y_down: file = (x, -z, y)
    assert torch.allclose(raw.means, torch.stack([s.means[:, 0], -s.means[:, 2], s.means[:, 1]], 1), atol=2e-4)
    with pytest.raises(LiftError, match="2048"):
        encode_spz(SplatData(*(t[:1] for t in s.fields())).__class__(
            torch.tensor([[3000.0, 0, 0]]), s.quats[:1], s.log_scales[:1], s.opacity_logits[:1], s.sh[:1]))
    (tmp_path / "bad.spz").write_bytes(b"NGSP" + b"\0" * 4)
    with pytest.raises(LiftError, match="bad.spz"):
        load_spz(tmp_path / "bad.spz")


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_sog_round_trip_within_quantisation(tmp_path, degree: int) -> None:
    s = random_splats(500, degree)  # <= 1024 splats: the SH palette holds every splat (exact up to the codebook)
    d = match(load_sog(save_sog(s, tmp_path / "s.sog", axes="z_up")[0], axes="z_up"), s)
    span = (s.means.abs() + 1).log1p().max()  # log-mapped extent per axis <= 2 ln(1 + max|x|)
    step = float(torch.expm1(2 * span / 131070)) * float(1 + s.means.abs().max())
    assert len(d) == len(s) and d.sh_degree == degree
    assert (d.means - s.means).abs().max() <= step
    assert (torch.sigmoid(d.opacity_logits) - torch.sigmoid(s.opacity_logits)).abs().max() <= 0.5 / 255 + 1e-6
    assert rotation_error(d.quats, s.quats) < 0.03
    assert (d.log_scales - s.log_scales).abs().mean() < 0.01 and (d.sh[:, 0] - s.sh[:, 0]).abs().mean() < 0.01
    if degree:
        assert (d.sh[:, 1:] - s.sh[:, 1:]).abs().max() < 0.02  # 256-level codebook of the palette values


def test_sog_folder_and_few_distinct_values_are_exact(tmp_path) -> None:
    s = random_splats(100, 0)
    s = SplatData(s.means, s.quats, s.log_scales.round(decimals=1), s.opacity_logits, s.sh.round(decimals=1))
    paths = save_sog(s, tmp_path / "meta.json", axes="z_up")
    assert {p.name for p in paths} == {"meta.json", "means_l.webp", "means_u.webp", "quats.webp", "scales.webp",
                                       "sh0.webp"}
    d = match(load_splats(tmp_path / "meta.json", axes="z_up"), s)
    assert torch.allclose(d.log_scales, s.log_scales, atol=1e-6) and torch.allclose(d.sh, s.sh, atol=1e-6)


def test_compressed_ply_round_trip_and_lone_chunk(tmp_path) -> None:
    s = random_splats(513, 3)  # 2 full chunks + 1 lone splat: gsplat's own loop would divide by zero there
    s = SplatData(s.means, s.quats, s.log_scales, s.opacity_logits.abs() + 1, s.sh)
    path = save_compressed_ply(s, tmp_path / "s.compressed.ply", axes="z_up")
    assert splat_kind(path) == "splat-ply-compressed"
    d = match(load_compressed_ply(path, axes="z_up"), s)
    assert len(d) == 513 and torch.isfinite(d.means).all()
    assert (d.means - s.means).abs().max() < 0.01 and (d.sh[:, 1:] - s.sh[:, 1:]).abs().max() <= 1 / 32 + 1e-6
    assert rotation_error(d.quats, s.quats) < 0.01


def test_gltf_splats_round_trip(tmp_path) -> None:
    s = random_splats(100, 2)
    d = load_gltf_splats(save_gltf_splats(s, tmp_path / "s.glb"))
    assert torch.allclose(d.means, s.means, atol=1e-6) and torch.allclose(d.sh, s.sh, atol=1e-5)
    assert torch.allclose(d.log_scales, s.log_scales, atol=1e-5) and rotation_error(d.quats, s.quats) < 1e-3


def test_cli_converts_between_every_splat_format(tmp_path) -> None:
    from lift3d.export.cli import main

    s = random_splats(300, 3)
    ply = save_3dgs_ply(s, tmp_path / "scene.ply")
    for fmt, name in [("spz", "scene.spz"), ("sog", "scene.sog"), ("splat-ply-compressed", "scene.compressed.ply"),
                      ("splat-glb", "scene_splat.glb")]:
        assert main([str(ply), "--format", fmt]) == 0 and (tmp_path / name).is_file()
    for source in ("scene.spz", "scene.sog", "scene.compressed.ply"):
        out = tmp_path / f"back-{source}.ply"
        assert main([str(tmp_path / source), "--format", "splat-ply", "--output", str(out)]) == 0
        kept = int((torch.sigmoid(s.opacity_logits) > 1 / 255).sum()) if "compressed" in source else 300
        assert len(load_splats(out)) == kept  # the compressed PLY drops splats with opacity <= 1/255


def test_write_splat_set(tmp_path) -> None:
    gaussians = random_splats(50, 1).to_gaussians()
    paths = write_splat_set(gaussians, tmp_path / "export")
    assert [p.name for p in paths] == ["splats.ply", "splats.spz"]
    assert (load_splats(paths[1]).means - load_splats(paths[0], axes="z_up").means).abs().max() < 2e-4
