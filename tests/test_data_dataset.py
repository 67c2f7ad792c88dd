"""The multi-view dataset: deterministic shards, disjoint splits, faithful round trips."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from lift3d.data import FAMILIES, PALETTE, render_object
from lift3d.data.dataset import DatasetConfig, ProceduralViews, split_objects, write_split

SMALL = DatasetConfig(families=("cube", "torus", "mushroom"), colours=("red", "blue", "white"),
                      objects_per_combo=3, views_per_object=3, resolution=16,
                      heldout_combos=(("cube", "blue"), ("mushroom", "white")))


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_written_shards_are_byte_identical_across_runs(tmp_path: Path):
    a = write_split(SMALL, "test", tmp_path / "a", objects_per_shard=4)
    b = write_split(SMALL, "test", tmp_path / "b", objects_per_shard=4)
    assert [p.name for p in a] == ["test-00000.safetensors", "test-00001.safetensors"]
    assert digest(a) == digest(b)
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_splits_are_disjoint_and_cover_the_combinations():
    splits = split_objects(SMALL)
    seeds = {k: {s.seed for s in v} for k, v in splits.items()}
    assert not (seeds["train"] & seeds["val"] or seeds["train"] & seeds["test"] or seeds["val"] & seeds["test"])
    combos = {k: {(s.family, s.colour) for s in v} for k, v in splits.items()}
    assert combos["test"] == set(SMALL.heldout_combos)
    assert not combos["test"] & (combos["train"] | combos["val"])
    every = {(f, c) for f in SMALL.families for c in SMALL.colours}
    assert combos["train"] == combos["val"] == every - set(SMALL.heldout_combos)
    assert len(splits["val"]) == len(combos["val"]) * SMALL.val_objects_per_combo
    assert sum(len(v) for v in splits.values()) == len(every) * SMALL.objects_per_combo
    # The default world holds >= 10 families and >= 8 colours, and its splits are disjoint too.
    default = split_objects(DatasetConfig())
    assert len(FAMILIES) >= 10 and len(PALETTE) >= 8
    assert len({s.seed for v in default.values() for s in v}) == sum(len(v) for v in default.values())


def test_shards_round_trip_renders_cameras_and_labels(tmp_path: Path):
    write_split(SMALL, "val", tmp_path)
    ds = ProceduralViews(tmp_path, "val")
    specs = split_objects(SMALL)["val"]
    assert len(ds) == len(specs) * SMALL.views_per_object
    i = 4  # second object, second view
    item = ds[i]
    spec = specs[1]
    obj = spec.build()
    assert item["caption"] == obj.caption
    assert (list(FAMILIES)[int(item["family"])], PALETTE[int(item["colour"])].name) == (spec.family, spec.colour)
    cams = ds.cameras(slice(i, i + 1))
    el, az, dist = cams.spherical()
    assert SMALL.elevation[0] <= el.item() <= SMALL.elevation[1] and 0 <= az.item() < 360
    assert abs(dist.item() - SMALL.distance) < 1e-4 and abs(cams.fov_y_deg.item() - SMALL.fov_y) < 1e-3
    ref = render_object(obj, cams, supersample=SMALL.supersample)
    assert (item["rgb"] - ref.rgb[0]).abs().max() <= 0.5 / 255 + 1e-6  # uint8 quantisation only
    assert (item["alpha"] - ref.alpha[0]).abs().max() <= 0.5 / 255 + 1e-6
    assert torch.allclose(item["depth"], ref.depth[0], atol=2e-3)  # float16
    assert torch.allclose(item["normal"], ref.normal[0], atol=1e-3)


def test_camera_ranges_are_configurable():
    cfg = DatasetConfig(families=("sphere",), colours=("red",), objects_per_combo=2, views_per_object=16,
                        elevation=(30.0, 30.0), azimuth=(90.0, 180.0), heldout_combos=())
    from lift3d.data.dataset import object_cameras

    el, az, _ = object_cameras(cfg, split_objects(cfg)["train"][0]).spherical()
    assert torch.allclose(el, torch.full_like(el, 30.0), atol=1e-3)
    assert ((az >= 90 - 1e-3) & (az <= 180 + 1e-3)).all() and az.std() > 10


def test_config_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown family"):
        DatasetConfig(families=("blob",))
    with pytest.raises(ValueError, match="held-out"):
        DatasetConfig(heldout_combos=(("cube", "plaid"),))
    with pytest.raises(ValueError, match="unknown split"):
        write_split(SMALL, "holdout", tmp_path)
    with pytest.raises(FileNotFoundError, match="write_split"):
        ProceduralViews(tmp_path, "train")


def test_write_dataset_writes_every_split(tmp_path: Path):
    from lift3d.data.write import WriteDatasetConfig, main

    main(["--out", str(tmp_path), "--threads", "1", "--dataset.families", "sphere", "cone",
          "--dataset.colours", "red", "green", "--dataset.objects-per-combo", "2", "--dataset.views-per-object", "2",
          "--dataset.resolution", "8", "--dataset.heldout-combos", "cone", "green"])
    sizes = {split: len(ProceduralViews(tmp_path, split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 3 * 2, "val": 3 * 2, "test": 2 * 2}
    assert WriteDatasetConfig().dataset == DatasetConfig()
