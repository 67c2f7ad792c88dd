"""Mesh extraction, cleanup, UV baking and mesh file round trips (closed forms and exact identities)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from lift3d.export import (
    clean_mesh,
    covariances_from_quats_scales,
    decimate,
    extract_mesh,
    field_to_mesh,
    load_mesh,
    mesh_from_gaussians,
    opacity_matched_level,
    save_mesh,
)
from lift3d.export.mesh_cleanup import cluster_decimation
from lift3d.export.uv_bake import dilate, rasterize_uv, sample_texture
from lift3d.types import LiftError

BOX = (-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)


def ball_sdf(radius: float = 0.6):
    return lambda p: p.norm(dim=-1) - radius


def stripes(p: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.4 * torch.sin(5.0 * p + torch.tensor([0.0, 1.0, 2.0]))


def test_sdf_ball_volume_and_outward_normals():
    mesh = extract_mesh(ball_sdf(0.6), BOX, 64, kind="sdf")
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * 0.6**3, rel=0.02)  # positive: faces point outward
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.6).max() < 0.01


def test_opacity_matched_level_of_uniform_ball_is_half_density():
    # A ball of constant density 40 (opaque through almost every chord): the rule puts the level between
    # the inside value and the empty outside, i.e. at 20, and the surface at the ball's radius.
    sigma0, radius = 40.0, 0.6
    field = lambda p: sigma0 * (p.norm(dim=-1) < radius).float()  # noqa: E731
    from lift3d.export.mesh_extract import evaluate_grid

    values = evaluate_grid(field, BOX, 64)
    assert opacity_matched_level(values, (2 / 63,) * 3) == pytest.approx(sigma0 / 2)
    mesh = extract_mesh(field, BOX, 64)
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.06)


def test_empty_density_field_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        extract_mesh(lambda p: torch.zeros(p.shape[0]), BOX, 16)


def test_single_gaussian_mesh_matches_its_rendered_silhouette():
    # Orthographic splat alpha o*exp(-x^2/2s^2) exceeds 0.5 out to s*sqrt(2 ln(2o)); the automatic level
    # makes the mesh's extent along each axis exactly that (up to the grid spacing).
    scales = torch.tensor([[0.1, 0.2, 0.3]])
    cov = covariances_from_quats_scales(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), scales)
    mesh = mesh_from_gaussians(torch.zeros(1, 3), cov, torch.tensor([0.9]), 64, aabb=BOX)
    expected = math.sqrt(2 * math.log(1.8)) * scales[0].numpy()
    np.testing.assert_allclose(mesh.bounds[1], expected, atol=2 / 63)
    np.testing.assert_allclose(-mesh.bounds[0], expected, atol=2 / 63)


def test_gaussian_grid_matches_brute_force_sum():
    g = torch.Generator().manual_seed(0)
    n = 50
    means = torch.rand(n, 3, generator=g) - 0.5
    cov = covariances_from_quats_scales(torch.randn(n, 4, generator=g), 0.05 + 0.1 * torch.rand(n, 3, generator=g))
    opa = torch.rand(n, generator=g)
    from lift3d.export.mesh_extract import gaussian_density_grid, grid_points

    values, _ = gaussian_density_grid(means, cov, opa, BOX, 24, cutoff=50.0)  # cutoff wide: no truncation
    pts = grid_points(BOX, 24).reshape(-1, 1, 3) - means
    mahal = torch.einsum("psa,sab,psb->ps", pts, torch.linalg.inv(cov), pts)
    ref = (opa * torch.exp(-0.5 * mahal)).sum(-1)
    torch.testing.assert_close(values.reshape(-1), ref, atol=1e-5, rtol=1e-4)


def test_splat_shell_becomes_one_solid():
    g = torch.Generator().manual_seed(0)
    n = 1500
    means = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 0.5
    cov = covariances_from_quats_scales(torch.tensor([[1.0, 0, 0, 0]]).expand(n, 4), torch.full((n, 3), 0.04))
    mesh = mesh_from_gaussians(means, cov, torch.full((n,), 0.8), 48)
    assert mesh.is_watertight and len(mesh.split()) == 1  # the inner surface of the shell was filled


def test_cleanup_drops_floaters_and_decimation_meets_budget():
    body = trimesh.creation.icosphere(4, radius=1.0)
    floater = trimesh.creation.icosphere(0, radius=0.05)
    floater.apply_translation([3.0, 0, 0])
    cleaned = clean_mesh(trimesh.util.concatenate([body, floater]))
    assert len(cleaned.faces) == len(body.faces)
    for out in (decimate(cleaned, 500), cluster_decimation(cleaned, 500)):
        assert 100 < len(out.faces) <= 500
        assert abs(out.volume - body.volume) / body.volume < 0.1


def test_rasterize_uv_covers_square_exactly_once():
    uv = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    face_id, bary = rasterize_uv(uv, faces, 16, 16)
    assert bool((face_id >= 0).all())  # every texel centre lies in exactly one of the two triangles
    torch.testing.assert_close(bary.sum(-1), torch.ones(16, 16))
    # Interpolated uv equals the texel centre (v up: row 0 is v = 1 - 0.5/16).
    uv_at = (bary[..., None] * uv[faces[face_id]]).sum(-2)
    cols = (torch.arange(16) + 0.5) / 16
    torch.testing.assert_close(uv_at[..., 0], cols.expand(16, 16))
    torch.testing.assert_close(uv_at[..., 1], (1 - cols)[:, None].expand(16, 16))


def test_dilate_grows_exactly_n_pixels():
    mask = torch.zeros(11, 11, dtype=torch.bool)
    mask[5, 5] = True
    img, grown = dilate(torch.ones(11, 11, 3), mask, 3)
    assert int(grown.sum()) == 49 and bool((img[grown] == 1).all())


def test_baked_texture_reproduces_albedo_on_the_surface():
    mesh = field_to_mesh(ball_sdf(0.6), stripes, BOX, 48, kind="sdf", target_faces=3000, texture_size=256)
    pts, fidx = mesh.sample(4000, return_index=True, seed=0)
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[fidx], pts)
    uv = (bary[:, :, None] * mesh.visual.uv[mesh.faces[fidx]]).sum(1)
    tex = torch.from_numpy(np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")) / 255.0).float()
    got = sample_texture(tex, torch.from_numpy(uv).float())
    mse = float(((got - stripes(torch.from_numpy(pts).float())) ** 2).mean())
    assert -10 * math.log10(mse) > 35.0


def test_own_vertex_colours_bake_like_the_closest_point_lookup():
    """Undecimated, a mesh's own vertex colours are interpolated on their faces: the same texture as the
    closest-point lookup on the same surface (up to texels on edges, where the lookup may pick either face)."""
    from lift3d.export.albedo_sources import albedo_from_vertex_colors
    from lift3d.export.asset import bake_asset
    from lift3d.export.uv_bake import textured_mesh

    mesh = trimesh.creation.icosphere(3)
    rng = np.random.default_rng(0)
    mesh.visual.vertex_colors = np.concatenate([rng.integers(0, 256, (len(mesh.vertices), 3)),
                                                np.full((len(mesh.vertices), 1), 255)], 1).astype(np.uint8)
    fast = bake_asset(mesh, None, target_faces=len(mesh.faces), texture_size=128)
    slow = textured_mesh(mesh, albedo_from_vertex_colors(mesh), 128)
    a = np.asarray(fast.visual.material.baseColorTexture, np.float64)
    b = np.asarray(slow.visual.material.baseColorTexture, np.float64)
    np.testing.assert_array_equal(fast.faces, slow.faces)
    assert np.mean(np.abs(a - b) <= 1) > 0.99 and np.abs(a - b).mean() < 0.2


@pytest.fixture(scope="module")
def textured_torus():
    from lift3d.data import procedural_object

    obj = procedural_object("torus", "red")
    h = obj.bounding_radius() * 1.1
    return field_to_mesh(obj.sdf, stripes, (-h, -h, -h, h, h, h), 48, kind="sdf", target_faces=2000, texture_size=128)


@pytest.mark.parametrize("suffix", [".glb", ".obj", ".ply"])
def test_mesh_files_round_trip_in_world_axes(tmp_path, textured_torus, suffix):
    paths = save_mesh(textured_torus, tmp_path / f"torus{suffix}")
    back = load_mesh(paths[0])
    assert len(back.faces) == len(textured_torus.faces)
    np.testing.assert_allclose(back.bounds, textured_torus.bounds, atol=1e-6)
    if suffix in (".glb", ".obj"):
        assert back.visual.uv is not None and back.visual.uv.shape == (len(back.vertices), 2)
        image = getattr(back.visual.material, "baseColorTexture", None) or back.visual.material.image
        assert image.size == (128, 128)
        np.testing.assert_allclose(back.visual.uv, textured_torus.visual.uv, atol=1e-6)
    else:
        assert back.visual.kind == "vertex"
    with pytest.raises(LiftError, match="already exists"):
        save_mesh(textured_torus, paths[0])


def test_obj_keeps_the_texture_at_full_strength(tmp_path, textured_torus):
    """The MTL multiplies map_Kd by Kd (three.js does): Kd 1, no specular, and an OBJ -> GLB round trip keeps a
    white base-colour factor (trimesh's defaults were Kd 0.4, which became baseColorFactor 0.4)."""
    save_mesh(textured_torus, tmp_path / "torus.obj")
    mtl = dict(line.split(" ", 1) for line in (tmp_path / "torus.mtl").read_text().splitlines() if " " in line)
    assert mtl["Kd"].split() == ["1.00000000"] * 3 and mtl["Ks"].split() == ["0.00000000"] * 3
    assert mtl["map_Kd"] == "torus.png"
    save_mesh(load_mesh(tmp_path / "torus.obj"), tmp_path / "torus.glb")
    material = load_mesh(tmp_path / "torus.glb").visual.material
    np.testing.assert_array_equal(material.baseColorFactor, [255] * 4)
    assert material.metallicFactor == 0.0  # trimesh leaves it unset: glTF's default 1 is fully metallic


def test_vertex_coloured_glb_gets_a_matte_material(tmp_path):
    import json
    import struct

    box = trimesh.creation.box()
    box.visual.vertex_colors = [200, 30, 30, 255]
    data = save_mesh(box, tmp_path / "box.glb")[0].read_bytes()
    gltf = json.loads(data[20 : 20 + struct.unpack_from("<I", data, 12)[0]])
    (primitive,) = gltf["meshes"][0]["primitives"]
    assert "COLOR_0" in primitive["attributes"]
    pbr = gltf["materials"][primitive["material"]]["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == 1.0
    back = load_mesh(tmp_path / "box.glb")  # trimesh reads COLOR_0 beside a material as an attribute: restored
    assert back.visual.kind == "vertex" and (back.visual.vertex_colors == [200, 30, 30, 255]).all()


def test_glb_is_y_up():
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))  # tallest along lift3d's +Z
    from lift3d.export.formats import Z_UP_TO_Y_UP, to_y_up

    np.testing.assert_allclose(to_y_up(box).extents, (1.0, 3.0, 2.0))
    assert np.linalg.det(Z_UP_TO_Y_UP) == pytest.approx(1.0)  # a rotation, not a mirror


def test_density_grid_survives_flat_splats() -> None:
    """A splat with a zero scale (a disc) has a singular covariance: here one whose float32 LU meets an exact
    zero pivot. The grid stays finite, each splat's centre gets its opacity (the kernel's peak), and the disc,
    thickened to half a cell, is seen by the grid points next to its plane."""
    from lift3d.export.mesh_extract import gaussian_density_grid

    means = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    v, w = torch.tensor([0.1, 0.1, 0.0]), torch.tensor([0.0, 0.1, 0.1])
    disc = torch.outer(v, v) + torch.outer(w, w)  # rank 2: zero variance along (1, -1, 1)
    cov = torch.stack([0.01 * torch.eye(3), disc])
    values, optical = gaussian_density_grid(means, cov, torch.tensor([0.8, 0.5]), BOX, resolution=33)
    assert torch.isfinite(values).all() and torch.isfinite(optical).all()
    assert abs(float(values[16, 16, 16]) - 0.8) < 1e-3 and abs(float(values[24, 16, 16]) - 0.5) < 1e-3
    normal = torch.tensor([1.0, -1.0, 1.0]) / 3**0.5  # the disc's zero-variance axis; one cell = 0.0625
    off_plane = (0.5 + 0.0625 * normal[0], 0.0625 * normal[1], 0.0625 * normal[2])
    sampled = gaussian_density_grid(torch.tensor([off_plane]), cov[1:], torch.tensor([0.5]), BOX, resolution=33)[0]
    assert float(values[24, 16, 16]) > 0.3 and float(sampled[24, 16, 16]) > 0.05


def test_gap_filling_closes_a_sparse_cloud_of_small_splats() -> None:
    """A 10 x 10 grid of small flat discs 0.1 apart on a plane: meshed as they are, the grid sees
    separate blobs; widened in their plane to half the gap to their neighbours they mesh as one piece. Splats wider than their
    spacing are left exactly as they were."""
    from lift3d.export.mesh_extract import gap_filling_covariances

    u = torch.linspace(-0.45, 0.45, 10)
    means = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    means = torch.cat([means, torch.zeros(100, 1)], -1)
    flat = covariances_from_quats_scales(torch.tensor([[1.0, 0, 0, 0]]).expand(100, 4),
                                         torch.tensor([[0.01, 0.01, 1e-6]]).expand(100, 3))
    opacity = torch.full((100,), 0.9)
    apart = mesh_from_gaussians(means, flat, opacity, 48, aabb=BOX)
    widened = gap_filling_covariances(means, flat)
    joined = mesh_from_gaussians(means, widened, opacity, 48, aabb=BOX)
    assert len(apart.split(only_watertight=False)) > 10 and len(joined.split(only_watertight=False)) == 1
    eig = torch.linalg.eigvalsh(widened.double())
    assert eig[:, 1:].min() >= 0.05**2 - 1e-9 and eig[:, 0].max() < 1e-9  # widened in the plane, still flat
    wide = covariances_from_quats_scales(torch.tensor([[1.0, 0, 0, 0]]).expand(100, 4), torch.full((100, 3), 0.08))
    torch.testing.assert_close(gap_filling_covariances(means, wide), wide)


def test_splat_rig_mesh_matches_a_sparse_faint_shell() -> None:
    from lift3d.export.mesh_extract import gap_filling_covariances

    """300 faint (opacity 0.3) flat discs tangent to a sphere of radius 0.4, a few hundred like a feed-forward
    model's: the grid-line matched level alone cuts such a cloud into pieces; the rig keeps the candidate level
    whose mesh's silhouettes match the splats' renders best, one piece."""
    from lift3d.rigs.gaussians import GaussianRig, GaussianScene
    from lift3d.scenes.gaussians import Gaussians

    g = torch.Generator().manual_seed(0)
    n = 300
    normals = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    z = torch.tensor([0.0, 0.0, 1.0]).expand(n, 3)
    axis = torch.cross(z, normals, dim=-1)  # rotate +z onto the normal: quaternion (1 + z.n, z x n), normalised
    quats = torch.nn.functional.normalize(torch.cat([1 + normals[:, 2:], axis], -1), dim=-1)
    scene = Gaussians(0.4 * normals, quats, torch.tensor([[0.03, 0.03, 1e-7]]).log().expand(n, 3),
                      torch.full((n,), math.log(0.3 / 0.7)), torch.zeros(n, 1, 3), torch.zeros(n, 0, 3))
    rig = GaussianRig(GaussianScene(), scene)
    mesh = rig.mesh(64)
    cov = gap_filling_covariances(scene.means, covariances_from_quats_scales(scene.quats, scene.scales)).detach()
    matched = mesh_from_gaussians(scene.means.detach(), cov, scene.opacities.reshape(-1).detach(), 64)
    assert len(matched.split(only_watertight=False)) > 10 and rig.silhouette_match(matched) < 0.5  # measured 57, 0.30
    assert len(mesh.split(only_watertight=False)) == 1 and rig.silhouette_match(mesh) > 0.75  # measured 0.81
