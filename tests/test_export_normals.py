"""Vertex normals in every mesh file are finite and of unit length (glTF-Validator ACCESSOR_VECTOR3_NON_UNIT),
also for degenerate faces, unused vertices and vertices split at UV seams."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from plyfile import PlyData

from lift3d.export import save_mesh
from lift3d.export.asset import bake_asset
from lift3d.export.mesh_cleanup import drop_degenerate, unit_vertex_normals

UNIT_TOLERANCE = 5e-4  # the validator's is 5e-3 after float32; ours are unit to float32 rounding


def glb_normals(path: Path) -> np.ndarray:
    """The NORMAL accessor of a one-primitive GLB, read from its bytes."""
    data = path.read_bytes()
    json_len = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20 : 20 + json_len])
    binary = data[20 + json_len + 8 :]
    (mesh,) = gltf["meshes"]
    accessor = gltf["accessors"][mesh["primitives"][0]["attributes"]["NORMAL"]]
    view = gltf["bufferViews"][accessor["bufferView"]]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    assert accessor["componentType"] == 5126 and accessor["type"] == "VEC3"
    return np.frombuffer(binary, "<f4", accessor["count"] * 3, start).reshape(-1, 3)


def obj_normals(path: Path) -> np.ndarray:
    rows = [line.split()[1:] for line in path.read_text().splitlines() if line.startswith("vn ")]
    return np.asarray(rows, np.float64)


def ply_normals(path: Path) -> np.ndarray:
    vertex = PlyData.read(str(path))["vertex"]
    return np.stack([np.asarray(vertex[k], np.float64) for k in ("nx", "ny", "nz")], 1)


READERS = {".glb": glb_normals, ".obj": obj_normals, ".ply": ply_normals}


def assert_unit(normals: np.ndarray, count: int) -> None:
    assert normals.shape == (count, 3)
    assert np.isfinite(normals).all()
    length = np.linalg.norm(normals.astype(np.float32), axis=1)
    assert np.abs(length - 1).max() < UNIT_TOLERANCE, length[np.abs(length - 1) >= UNIT_TOLERANCE]


@pytest.fixture
def broken() -> trimesh.Trimesh:
    """An icosphere plus a zero-area face (three collinear vertices used by nothing else) and an isolated
    vertex: trimesh's own normals are zero at those four vertices."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    n = len(sphere.vertices)
    vertices = np.vstack([sphere.vertices, [[1.0, 0.0, 0.0], [1.2, 0.0, 0.0], [1.4, 0.0, 0.0], [2.0, 2.0, 2.0]]])
    faces = np.vstack([sphere.faces, [[n, n + 1, n + 2]]])
    rgba = np.tile(np.array([[200, 40, 40, 255]], np.uint8), (len(vertices), 1))
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=rgba, process=False)
    assert (np.linalg.norm(mesh.vertex_normals, axis=1) < 0.5).sum() == 4  # what the files used to get
    return mesh


@pytest.mark.parametrize("suffix", [".glb", ".obj", ".ply"])
def test_every_written_normal_is_unit_length(tmp_path: Path, broken: trimesh.Trimesh, suffix: str) -> None:
    path = save_mesh(broken, tmp_path / f"broken{suffix}")[0]
    assert_unit(READERS[suffix](path), len(broken.vertices))


def test_fallbacks_neighbours_then_up() -> None:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [3, 0, 0], [5, 5, 5]], np.float64)
    f = np.array([[0, 1, 2], [1, 3, 4]])  # face 1 is collinear; vertex 5 unused
    n = unit_vertex_normals(v, f, up=(0.0, 1.0, 0.0))
    assert n.dtype == np.float32
    np.testing.assert_allclose(n[[0, 1, 2]], [[0, 0, 1]] * 3, atol=1e-7)
    np.testing.assert_allclose(n[[3, 4]], [[0, 0, 1]] * 2, atol=1e-7)  # from the collinear face's neighbour
    np.testing.assert_allclose(n[5], [0, 1, 0])  # nothing around it: the file's up
    given = np.array([[0, 0, 2], [0, 0, 0], [np.nan, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]], np.float64)
    n = unit_vertex_normals(v, f, normals=given)  # usable rows kept (normalised), the others repaired
    r = 0.5**0.5  # vertex 1: the mean of its valid neighbours 0 and 3 (2 is repaired in the same pass)
    np.testing.assert_allclose(n, [[0, 0, 1], [r, 0, r], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    v[0] = np.nan
    assert_unit(unit_vertex_normals(v, f).astype(np.float64), len(v))


def test_seam_copies_share_a_normal_and_hard_edges_stay(tmp_path: Path) -> None:
    """The bake's normals come from the mesh before xatlas split it, so no shading seams; a mesh split on
    purpose (a faceted box) keeps its faces' normals."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    sphere.visual.vertex_colors = np.full((len(sphere.vertices), 4), 200, np.uint8)
    asset = bake_asset(sphere, None, texture_size=32)
    assert len(asset.vertices) > len(sphere.vertices)  # split at seams
    normals = glb_normals(save_mesh(asset, tmp_path / "sphere.glb")[0])
    np.testing.assert_allclose(normals, asset.vertices @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]) / 0.5,
                               atol=0.03)  # the sphere's radial direction, in the GLB's +Y-up axes
    box = trimesh.creation.box()
    box.unmerge_vertices()  # 3 copies of each corner: flat shading
    normals = obj_normals(save_mesh(box, tmp_path / "box.obj")[0])
    np.testing.assert_allclose(normals, np.repeat(box.face_normals @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]),
                                                  3, axis=0)[np.argsort(box.faces.reshape(-1))], atol=1e-6)


def test_bake_drops_degenerate_faces_before_unwrapping(tmp_path: Path, broken: trimesh.Trimesh) -> None:
    asset = bake_asset(broken, None, target_faces=5000, texture_size=32)
    assert len(asset.faces) == len(broken.faces) - 1 and asset.nondegenerate_faces().all()
    used = np.zeros(len(asset.vertices), bool)
    used[asset.faces.reshape(-1)] = True
    assert used.all()
    assert_unit(glb_normals(save_mesh(asset, tmp_path / "asset.glb")[0]), len(asset.vertices))
    assert drop_degenerate(asset) is asset  # clean meshes are not copied


def test_back_to_back_faces_normals_and_cleanup(tmp_path: Path) -> None:
    """A face and its reverse (quadric decimation leaves such pairs; the demo's refined mesh had 33): their
    normals cancel at vertices no other face uses. Written normals stay unit; the bake keeps one of the pair."""
    sphere = trimesh.creation.icosphere(subdivisions=1, radius=0.5)
    n = len(sphere.vertices)
    vertices = np.vstack([sphere.vertices, [[1.0, 0.0, 0.0], [1.2, 0.0, 0.0], [1.0, 0.3, 0.0]]])
    faces = np.vstack([sphere.faces, [[n, n + 1, n + 2], [n, n + 2, n + 1]]])
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=np.full((len(vertices), 4), 200, np.uint8), process=False)
    assert (np.linalg.norm(mesh.vertex_normals, axis=1) < 0.5).sum() == 3
    for suffix in READERS:
        assert_unit(READERS[suffix](save_mesh(mesh, tmp_path / f"fin{suffix}")[0]), len(vertices))
    clean = drop_degenerate(mesh)
    assert len(clean.faces) == len(faces) - 1 and len(clean.vertices) == len(vertices)
    assert (np.linalg.norm(clean.vertex_normals, axis=1) > 0.99).all()
    assert len(bake_asset(mesh, None, texture_size=16).faces) == len(faces) - 1


def test_bake_of_only_degenerate_faces_is_a_value_error() -> None:
    flat = trimesh.Trimesh(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0.0]]), np.array([[0, 1, 2]]), process=False)
    with pytest.raises(ValueError, match="zero area"):
        bake_asset(flat, lambda p: torch.ones_like(p), texture_size=16)
