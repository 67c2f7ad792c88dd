"""The Zeroverse-style random world, its OOD evaluation set and the mixed dataset (LRM-Zero, arXiv 2406.09371)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from lift3d.cameras import Cameras
from lift3d.data import FAMILIES, ood_objects, parse_caption, procedural_object, random_composition, render_object
from lift3d.data.dataset import DatasetConfig, ProceduralViews, split_objects, write_split
from lift3d.data.mixed import MixedDatasetConfig, RandomSpec, split_mixed, write_mixed_split
from lift3d.data.ood import OOD_BUILDERS
from lift3d.data.parts import KINDS, Part
from lift3d.data.textures import PATTERNS, Pattern, random_rotation
from lift3d.data.zeroverse import HELDOUT_KINDS, TRAIN_KINDS, ZeroverseConfig, augmentations

SEEDS = range(40)
OBJECTS = {s: random_composition(s) for s in SEEDS}
AUGMENTATIONS = ("smooth", "difference", "thin", "displacement")


def first_seed(tag: str) -> int:
    return next(s for s, o in OBJECTS.items() if tag in augmentations(o.shape))


def cameras(n: int = 3, size: int = 32) -> Cameras:
    g = torch.Generator().manual_seed(1)
    return Cameras.from_spherical(torch.rand(n, generator=g) * 70 - 10, torch.rand(n, generator=g) * 360,
                                  torch.full((n,), 2.75), 40.0, size)


def test_same_seed_renders_bit_identical_and_seeds_differ():
    a, b = random_composition(7), random_composition(7)
    assert a == b
    ra, rb = render_object(a, cameras()), render_object(b, cameras())
    for k in ("rgb", "alpha", "depth", "normal"):
        assert torch.equal(getattr(ra, k), getattr(rb, k))
    rc = render_object(random_composition(8), cameras())
    assert not torch.equal(ra.alpha, rc.alpha)
    assert len({OBJECTS[s].shape for s in SEEDS}) == len(SEEDS)


@pytest.mark.parametrize("tag", [*AUGMENTATIONS, "plain", "ood"])
def test_ground_truth_is_valid(tag: str):
    if tag == "ood":
        obj = ood_objects()[3]  # the head: ellipsoids, smooth unions, a difference
    else:
        obj = OBJECTS[next(s for s, o in OBJECTS.items() if not augmentations(o.shape))] if tag == "plain" \
            else OBJECTS[first_seed(tag)]
    cams = cameras()
    out = render_object(obj, cams, supersample=1)
    hit = out.alpha[..., 0] > 0.5
    cover = hit.float().mean(dim=(1, 2))
    assert (cover > 0.01).all() and (cover < 0.5).all(), cover
    border = torch.cat([hit[:, 0], hit[:, -1], hit[:, :, 0], hit[:, :, -1]], -1)
    assert not border.any()  # the object fits in the frame
    # Depth on the zero set, normals finite, unit and facing the camera.
    origins, dirs = cams.rays()
    t = out.depth[..., 0] / (dirs * cams.c2w[:, None, None, :3, 2]).sum(-1)
    assert obj.sdf((origins + t[..., None] * dirs)[hit]).abs().max() < 1e-3
    n = out.normal[hit]
    assert torch.isfinite(n).all() and torch.isfinite(out.depth).all()
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n)), atol=1e-4)
    assert ((n * dirs[hit]).sum(-1) < 0).float().mean() > 0.97
    assert (out.depth[~hit] == 0).all()


def test_objects_fit_the_canonical_box_and_meshes_are_watertight():
    for s in range(0, 40, 4):
        obj = OBJECTS[s]
        mesh = obj.mesh(48)
        h = np.array(obj.half_extents())
        step = 2 * h.max() / 48
        assert 0.85 <= 2 * h.max() <= 1.15 and mesh.is_watertight
        assert (np.abs(mesh.bounds) <= h + step).all()  # centred, inside the (conservative) box
        assert mesh.extents.max() >= 0.7 * 2 * h.max()  # and the box is not much larger than the object
        colours = mesh.visual.vertex_colors[:, :3]
        assert len(np.unique(colours, axis=0)) > 1 if obj.textured else len(np.unique(colours, axis=0)) == 1
    assert 2 * max(random_composition(3, extent=1.0).half_extents()) == pytest.approx(1.0)


@pytest.mark.parametrize("tag", AUGMENTATIONS)
def test_sdf_is_a_distance_bound(tag: str):
    """``|sdf(p)| <= distance to the surface`` (what sphere tracing assumes) and the SDF is 1-Lipschitz."""
    obj = OBJECTS[first_seed(tag)]
    h = torch.tensor(obj.half_extents())
    g = torch.Generator().manual_seed(0)
    p = (torch.rand(3000, 3, generator=g) * 2 - 1) * h * 1.3
    q = p + torch.nn.functional.normalize(torch.randn(3000, 3, generator=g), dim=-1) * 0.02
    assert ((obj.sdf(q) - obj.sdf(p)).abs() <= 0.02 * (1 + 1e-3) + 1e-6).all()
    mesh = obj.mesh(96)
    dist, _ = cKDTree(mesh.vertices).query(p.numpy())  # vertices lie within ~1/2 cell of the zero set
    assert (obj.sdf(p).abs().numpy() <= dist + 2 * h.max().item() / 96).all()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_primitive_kind_is_1_lipschitz(kind: str):
    """Includes the pyramid, whose base-plane fix matters: IQ's sdPyramid alone jumps by ~h just inside the base."""
    params = {"box": (0.3, 0.2, 0.1, 0.05), "sphere": (0.3,), "cylinder": (0.2, 0.3), "cone": (0.2, 0.3),
              "torus": (0.3, 0.1), "tube": (0.15, 0.2, 0.3), "pyramid": (0.2, 0.3), "prism": (0.3, 0.2, 0.25),
              "frame": (0.3, 0.2, 0.25, 0.02), "capsule": (0.1, 0.2), "ellipsoid": (0.3, 0.2, 0.1),
              "octahedron": (0.3,)}[kind]
    part = Part(kind, params, random_rotation(torch.Generator().manual_seed(2)), (0.1, -0.05, 0.02))
    g = torch.Generator().manual_seed(0)
    p = (torch.rand(20000, 3, generator=g) * 2 - 1) * 0.6
    q = p + torch.nn.functional.normalize(torch.randn(20000, 3, generator=g), dim=-1) * 0.005
    assert ((part.sdf(q) - part.sdf(p)).abs() <= 0.005 * (1 + 1e-3) + 1e-6).all()
    lo, hi = (torch.tensor(part.translation) + s * torch.tensor(part.half_extents()) for s in (-1, 1))
    assert (part.sdf(p)[((p < lo) | (p > hi)).any(-1)] > 0).all()  # the box bounds the part


def test_each_augmentation_occurs_and_held_out_kinds_never_do():
    counts = {t: sum(t in augmentations(o.shape) for o in OBJECTS.values()) for t in AUGMENTATIONS}
    assert all(4 <= c <= 36 for c in counts.values()), counts
    solids = [sum(not p.thin and p.op != "subtract" for p in o.shape.parts) for o in OBJECTS.values()]
    assert min(solids) == 1 and max(solids) >= 8
    kinds = {p.kind for o in OBJECTS.values() for p in o.shape.parts}
    assert set(TRAIN_KINDS) <= kinds <= set(TRAIN_KINDS) | {"frame"}
    assert not kinds & set(HELDOUT_KINDS) and set(HELDOUT_KINDS) <= set(KINDS)
    assert {"cylinder", "torus", "frame"} == {p.kind for o in OBJECTS.values() for p in o.shape.parts if p.thin}
    assert {p.kind for o in OBJECTS.values() for p in o.patterns} == set(PATTERNS)
    textured = [o.textured for o in OBJECTS.values()]
    assert any(textured) and not all(textured)
    # Differences carve: each cutter's centre is outside the object it cut.
    obj = OBJECTS[first_seed("difference")]
    solid = replace(obj.shape, parts=tuple(p for p in obj.shape.parts if not p.thin))
    centres = torch.tensor([p.translation for p in solid.parts if p.op == "subtract"])
    assert (solid.sdf(centres) > 0).all()
    # Displacement moves the surface and is tamed by its Lipschitz bound; thin parts are thin.
    part = next(p for o in OBJECTS.values() for p in o.shape.parts if p.waves)
    assert 1.0 < part.lipschitz() <= 1.6
    plain = Part(part.kind, part.params, part.rotation, part.translation)
    x = torch.rand(2000, 3) - 0.5
    assert (part.sdf(x) * part.lipschitz() - plain.sdf(x)).abs().max() > 0.5 * part.amplitude
    assert all(min(p.params) <= 0.025 for o in OBJECTS.values() for p in o.shape.parts if p.thin)


def test_textures_vary_within_a_textured_object_and_flat_ones_do_not():
    textured = next(o for o in OBJECTS.values() if any(p.kind != "flat" for p in o.patterns))
    flat = next(o for o in OBJECTS.values() if not o.textured)
    for obj, varies in ((textured, True), (flat, False)):
        out = render_object(obj, cameras(2), supersample=1)
        albedo = out.aux["albedo"][out.alpha[..., 0] > 0.5]
        spread = (albedo - albedo.mean(0)).abs().amax().item()
        assert spread > 0.1 if varies else spread < 1e-6
    q = torch.rand(4000, 3) - 0.5
    for kind in PATTERNS[1:]:
        w = Pattern(kind, frequency=5.0).weight(q)
        assert w.min() >= 0 and w.max() <= 1 and w.max() - w.min() > 0.5, kind
    assert (Pattern("flat").weight(q) == 0).all()


def test_ood_objects_are_fixed_well_formed_and_held_out():
    objs = ood_objects()
    assert [o.family for o in objs] == list(OOD_BUILDERS) and objs == ood_objects()
    assert sum(any(p.kind in HELDOUT_KINDS for p in o.shape.parts) for o in objs) >= len(objs) // 2
    for o in objs:
        assert 2 * max(o.half_extents()) == pytest.approx(1.0)
        assert parse_caption(o.caption) == (None, None)
    out = render_object(objs[0], cameras(2), supersample=1)
    assert (out.alpha.mean(dim=(1, 2, 3)) > 0.02).all()
    assert all(parse_caption(o.caption) == (None, None) for o in OBJECTS.values())


def test_existing_families_are_unchanged():
    """Pinned from a render before the random world existed (it adds files only)."""
    cams = Cameras.from_spherical(torch.tensor([20.0, 45.0]), torch.tensor([30.0, 200.0]), torch.full((2,), 2.75),
                                  40.0, 32)
    out = render_object(procedural_object("mushroom", "red", seed=5), cams)
    sums = [float(getattr(out, k).double().sum()) for k in ("rgb", "alpha", "depth", "normal")]
    assert sums == pytest.approx([5444.0605498, 311.0, 751.2489194, 195.2721799], rel=1e-5)
    assert len(FAMILIES) == 14 and "random" not in FAMILIES


SMALL = DatasetConfig(families=("cube", "torus"), colours=("red", "blue"), objects_per_combo=3, views_per_object=2,
                      resolution=16, heldout_combos=(("cube", "blue"),))


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_mixing_at_zero_is_the_families_dataset(tmp_path: Path):
    cfg = MixedDatasetConfig(SMALL)
    for split in ("train", "test"):
        assert digest(write_mixed_split(cfg, split, tmp_path / "m")) == digest(write_split(SMALL, split, tmp_path / "f"))
    with pytest.raises(ValueError, match="random_fraction"):
        MixedDatasetConfig(SMALL, random_fraction=1.5)


def test_mixing_replaces_a_fraction_of_train_and_val(tmp_path: Path):
    cfg = MixedDatasetConfig(SMALL, random_fraction=0.5, zeroverse=ZeroverseConfig(max_parts=3))
    plain, mixed = split_objects(SMALL), split_mixed(cfg)
    for split in ("train", "val"):
        assert [s.seed for s in mixed[split]] == [s.seed for s in plain[split]]
        random = [isinstance(s, RandomSpec) for s in mixed[split]]
        assert sum(random) == round(0.5 * len(plain[split]))
    assert mixed["test"] == plain["test"] and len(mixed["ood"]) == len(OOD_BUILDERS)
    assert all(isinstance(s, RandomSpec) for s in split_mixed(replace(cfg, random_fraction=1.0))["train"])
    write_mixed_split(cfg, "val", tmp_path)
    write_split(SMALL, "val", tmp_path / "plain")
    ds, ref = ProceduralViews(tmp_path, "val"), ProceduralViews(tmp_path / "plain", "val")
    assert len(ds) == len(ref)
    is_random = ds.arrays["family"] == -1
    assert is_random.any() and not is_random.all() and (ds.arrays["colour"][is_random] == -1).all()
    keep = ~is_random  # family objects render exactly as in the plain dataset
    assert torch.equal(ds.arrays["rgb"][keep], ref.arrays["rgb"][keep])
    i = int(torch.nonzero(is_random)[0])
    assert ds[i]["caption"] == random_composition(int(ds[i]["seed"]), config=cfg.zeroverse).caption
    assert ds[i]["alpha"].sum() > 0


def test_write_mixed_cli_writes_the_ood_split(tmp_path: Path):
    from lift3d.data.mixed import main

    main(["--out", str(tmp_path), "--threads", "1", "--splits", "ood", "--dataset.views-per-object", "1",
          "--dataset.resolution", "8"])
    ds = ProceduralViews(tmp_path, "ood")
    assert len(ds) == len(OOD_BUILDERS) and ds[0]["caption"] == "a mug"
