"""Tangent-space normal maps baked from the full-resolution surface onto the decimated, unwrapped mesh."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from test_export_dcc import blender_imports, node_tools

from lift3d.export.asset import bake_asset
from lift3d.export.formats import load_mesh, save_glb, save_obj
from lift3d.export.normal_map import lambert, psnr, render_normals, vertex_tangents

VIEWS = [(0.0, -1.0, 0.0), (1.0, 0.3, -0.2), (0.2, 0.5, -1.0), (-0.7, 0.6, 0.4)]
LIGHT = np.array([0.4, -0.8, 0.6])


def grey(points: torch.Tensor) -> torch.Tensor:
    return torch.full((len(points), 3), 0.7)


@pytest.fixture(scope="module")
def sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=5)  # 20480 faces


@pytest.fixture(scope="module")
def baked(sphere: trimesh.Trimesh) -> trimesh.Trimesh:
    return bake_asset(sphere, grey, target_faces=200, texture_size=256)


def glb_json(path: Path) -> dict:
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + length])


def test_tangents_follow_uv_and_handedness() -> None:
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    n = np.tile([0.0, 0.0, 1.0], (4, 1))
    t = vertex_tangents(v, f, v[:, :2], n)
    np.testing.assert_allclose(t, np.tile([1.0, 0.0, 0.0, 1.0], (4, 1)), atol=1e-9)
    mirrored = vertex_tangents(v, f, np.c_[v[:, 0], -v[:, 1]], n)  # v flipped: left-handed frame
    np.testing.assert_allclose(mirrored[:, 3], -1.0)


def test_decimated_sphere_gets_a_normal_map(baked: trimesh.Trimesh, sphere: trimesh.Trimesh) -> None:
    assert 150 <= len(baked.faces) <= 220
    image = baked.visual.material.normalTexture
    assert image is not None and image.size == (256, 256)
    rgb = np.asarray(image.convert("RGB"), np.float64) / 255 * 2 - 1
    assert (rgb[..., 2] > 0).all()  # tangent-space: never facing away
    undecimated = bake_asset(trimesh.creation.icosphere(subdivisions=2), grey, target_faces=1000, texture_size=64)
    assert undecimated.visual.material.normalTexture is None  # no higher-resolution surface to bake from
    assert bake_asset(sphere, grey, 200, 64, normal_map=False).visual.material.normalTexture is None


def mean_angle(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean angle in degrees between unit normals ``a`` and ``b`` where ``mask``."""
    return float(np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))[mask].mean())


def test_normal_map_shades_closer_to_full_resolution(baked: trimesh.Trimesh, sphere: trimesh.Trimesh) -> None:
    plain_err, mapped_err, plain_psnr, mapped_psnr = [], [], [], []
    for view in VIEWS:
        ref, ref_hit = render_normals(sphere, view, (0, 0, 1), 96)
        plain, hit = render_normals(baked, view, (0, 0, 1), 96, use_map=False)
        mapped, _ = render_normals(baked, view, (0, 0, 1), 96, use_map=True)
        both = ref_hit & hit
        assert both.sum() > 0.7 * ref_hit.sum()

        plain_err.append(mean_angle(plain, ref, both))
        mapped_err.append(mean_angle(mapped, ref, both))
        shade = lambert(ref, LIGHT)[both]
        plain_psnr.append(psnr(lambert(plain, LIGHT)[both], shade))
        mapped_psnr.append(psnr(lambert(mapped, LIGHT)[both], shade))
    print(f"normal error deg plain {np.mean(plain_err):.2f} mapped {np.mean(mapped_err):.2f}; Lambert PSNR dB "
          f"plain {np.mean(plain_psnr):.2f} mapped {np.mean(mapped_psnr):.2f}")
    assert np.mean(mapped_err) < 0.6 * np.mean(plain_err)
    assert all(m < p for m, p in zip(mapped_err, plain_err))
    assert np.mean(mapped_psnr) > np.mean(plain_psnr) + 2.0


def test_glb_and_obj_carry_the_normal_map(baked: trimesh.Trimesh, tmp_path: Path) -> None:
    tree = glb_json(save_glb(baked, tmp_path / "s.glb"))
    material = tree["materials"][0]
    assert "normalTexture" in material and "baseColorTexture" in material["pbrMetallicRoughness"]
    assert material["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    assert material["pbrMetallicRoughness"]["roughnessFactor"] == 1.0
    assert len(tree["images"]) == 2
    assert set(tree["meshes"][0]["primitives"][0]["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0", "TANGENT"}
    back = load_mesh(tmp_path / "s.glb")
    assert back.visual.material.normalTexture is not None
    written = save_obj(baked, tmp_path / "s.obj")
    assert tmp_path / "s_normal.png" in written
    mtl = (tmp_path / "s.mtl").read_text()
    assert "map_Bump -bm 1.000000 s_normal.png" in mtl and "norm s_normal.png" in mtl and "map_Kd s.png" in mtl


def test_cli_no_normal_map_drops_it(baked: trimesh.Trimesh, tmp_path: Path) -> None:
    from lift3d.export.cli import main

    save_glb(baked, tmp_path / "in.glb")
    assert main([str(tmp_path / "in.glb"), "--format", "glb", "--output", str(tmp_path / "keep.glb")]) == 0
    assert "normalTexture" in glb_json(tmp_path / "keep.glb")["materials"][0]
    assert main([str(tmp_path / "in.glb"), "--format", "glb", "--output", str(tmp_path / "flat.glb"),
                 "--no-normal-map"]) == 0
    assert "normalTexture" not in glb_json(tmp_path / "flat.glb")["materials"][0]


@pytest.mark.dcc
def test_validator_and_blender_see_the_normal_map(baked: trimesh.Trimesh, tmp_path: Path) -> None:
    glb = save_glb(baked, tmp_path / "sphere.glb")
    obj = save_obj(baked, tmp_path / "sphere.obj")[0]
    report = node_tools("validate_gltf.mjs", [glb])[glb]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    got = blender_imports([glb, obj])
    for path in (glb, obj):
        assert "error" not in got[path], got[path]
        assert got[path]["normal_map"] and got[path]["base_color_image"], got[path]
        assert got[path]["principled"]["metallic"] == 0.0
    assert got[glb]["principled"]["roughness"] == 1.0
