"""Seeded multi-view renders of procedural objects, their splits, and compact safetensors shards.

Everything is deterministic: an object's geometry follows from ``(family, seed)``, its cameras from
``(config.seed, object seed)``, so any shard can be regenerated on its own and repeats byte for byte.
Splits: ``train``; ``val`` holds other object seeds of the same (family, colour) combinations;
``test`` holds combinations never seen in training (compositional generalisation).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from lift3d.cameras import Cameras
from lift3d.data.objects import FAMILIES, ProceduralObject, procedural_object
from lift3d.data.palette import PALETTE
from lift3d.data.tracer import render_object

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a split: everything needed to rebuild it."""

    family: str
    colour: str
    seed: int

    def build(self) -> ProceduralObject:
        return procedural_object(self.family, self.colour, self.seed)


@dataclass(frozen=True)
class DatasetConfig:
    """Which objects, how they are viewed, and how the splits are cut."""

    families: tuple[str, ...] = tuple(FAMILIES)
    """Shape families to include."""
    colours: tuple[str, ...] = tuple(c.name for c in PALETTE)
    """Palette colours to include."""
    objects_per_combo: int = 4
    """Distinct objects (seeds) per (family, colour) combination."""
    views_per_object: int = 8
    """Rendered views per object."""
    resolution: int = 32
    """Image side in pixels."""
    supersample: int = 2
    """Rays per pixel along each axis (antialiasing)."""
    elevation: tuple[float, float] = (-10.0, 60.0)
    """Camera elevation range in degrees (uniform)."""
    azimuth: tuple[float, float] = (0.0, 360.0)
    """Camera azimuth range in degrees (uniform; 0 = front, +X)."""
    distance: float = 2.75
    """Camera distance from the origin."""
    fov_y: float = 40.0
    """Vertical field of view in degrees."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Background colour."""
    heldout_combos: tuple[tuple[str, str], ...] = (
        ("cube", "blue"), ("sphere", "yellow"), ("cone", "purple"), ("torus", "green"),
        ("cylinder", "red"), ("mushroom", "white"), ("table", "pink"), ("wedge", "cyan"),
    )
    """(family, colour) pairs reserved for the ``test`` split (never in train/val)."""
    val_objects_per_combo: int = 1
    """Of each seen combination's objects, how many go to ``val`` instead of ``train``."""
    seed: int = 0
    """Base seed of object seeds, split assignment and cameras."""

    def __post_init__(self) -> None:
        for f in self.families:
            if f not in FAMILIES:
                raise ValueError(f"unknown family {f!r} in DatasetConfig.families; choose from {list(FAMILIES)}.")
        names = {c.name for c in PALETTE}
        for c in self.colours:
            if c not in names:
                raise ValueError(f"unknown colour {c!r} in DatasetConfig.colours; choose from {sorted(names)}.")
        for f, c in self.heldout_combos:
            if f not in FAMILIES or c not in names:
                raise ValueError(f"held-out combo {(f, c)!r} names an unknown family or colour.")
        if not 0 <= self.val_objects_per_combo < self.objects_per_combo:
            raise ValueError("val_objects_per_combo must be in [0, objects_per_combo) so train keeps objects.")


def _seeded(*keys: object) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(":".join(map(str, keys)).encode()))


def split_objects(cfg: DatasetConfig) -> dict[str, list[ObjectSpec]]:
    """The objects of every split; object seeds are unique across the dataset (no shared geometry)."""
    splits: dict[str, list[ObjectSpec]] = {s: [] for s in SPLITS}
    heldout = set(cfg.heldout_combos)
    n = cfg.objects_per_combo
    for k, (f, c) in enumerate((f, c) for f in cfg.families for c in cfg.colours):
        seeds = [cfg.seed * 1_000_003 + k * n + i for i in range(n)]
        if (f, c) in heldout:
            splits["test"] += [ObjectSpec(f, c, s) for s in seeds]
            continue
        order = torch.randperm(n, generator=_seeded("split", cfg.seed, f, c)).tolist()
        for rank, i in enumerate(order):
            splits["val" if rank < cfg.val_objects_per_combo else "train"].append(ObjectSpec(f, c, seeds[i]))
    return splits


def object_cameras(cfg: DatasetConfig, spec: ObjectSpec) -> Cameras:
    """The ``views_per_object`` cameras of one object (deterministic in ``cfg.seed`` and ``spec.seed``)."""
    g = _seeded("cameras", cfg.seed, spec.seed)
    v = cfg.views_per_object
    elev = cfg.elevation[0] + (cfg.elevation[1] - cfg.elevation[0]) * torch.rand(v, generator=g)
    azim = cfg.azimuth[0] + (cfg.azimuth[1] - cfg.azimuth[0]) * torch.rand(v, generator=g)
    return Cameras.from_spherical(elev, azim, torch.full((v,), cfg.distance), cfg.fov_y, cfg.resolution)


def render_objects(cfg: DatasetConfig, specs: list[ObjectSpec]) -> dict[str, Tensor]:
    """Render every view of ``specs`` into compact arrays (all cameras of an object in one tracer call).

    Returns:
        ``rgb`` uint8 ``[N, H, W, 3]``, ``alpha`` uint8 ``[N, H, W, 1]``, ``depth`` float16 ``[N, H, W, 1]``,
        ``normal`` float16 ``[N, H, W, 3]`` (both premultiplied by alpha, as :func:`render_object`),
        ``c2w`` float32 ``[N, 4, 4]``, ``elevation``/``azimuth``/``distance``/``fov_y`` float32 ``[N]``,
        ``family``/``colour`` int64 ``[N]`` (indices into ``FAMILIES`` / ``PALETTE``), ``object`` int64 ``[N]``
        (index into ``specs``) and ``seed`` int64 ``[N]``; ``N = len(specs) * views_per_object``.
    """
    family_ids = {f: i for i, f in enumerate(FAMILIES)}
    colour_ids = {c.name: i for i, c in enumerate(PALETTE)}
    parts: dict[str, list[Tensor]] = {}
    for i, spec in enumerate(specs):
        cams = object_cameras(cfg, spec)
        out = render_object(spec.build(), cams, background=cfg.background, supersample=cfg.supersample)
        elev, azim, dist = cams.spherical()
        v = len(cams)
        row = {
            "rgb": (out.rgb * 255).round().to(torch.uint8),
            "alpha": (out.alpha * 255).round().to(torch.uint8),
            "depth": out.depth.half(),
            "normal": out.normal.half(),
            "c2w": cams.c2w,
            "elevation": elev, "azimuth": azim, "distance": dist, "fov_y": cams.fov_y_deg,
            "family": torch.full((v,), family_ids[spec.family]),
            "colour": torch.full((v,), colour_ids[spec.colour]),
            "object": torch.full((v,), i),
            "seed": torch.full((v,), spec.seed),
        }
        for k, t in row.items():
            parts.setdefault(k, []).append(t)
    return {k: torch.cat(v).contiguous() for k, v in parts.items()}


def write_split(cfg: DatasetConfig, split: str, out_dir: str | Path, objects_per_shard: int = 256) -> list[Path]:
    """Render ``split`` and write it as ``{split}-{i:05d}.safetensors`` shards under ``out_dir``.

    Each shard holds the arrays of :func:`render_objects` plus one metadata entry ``lift3d``: JSON with
    ``captions`` (one per object), ``objects`` ([family, colour, seed] each) and ``config``. Files are
    written to a temporary name and renamed, so an interrupted run leaves no partial shard.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = split_objects(cfg)[split]
    paths = []
    for k, start in enumerate(range(0, len(specs), objects_per_shard)):
        chunk = specs[start:start + objects_per_shard]
        # One metadata key: safetensors writes several keys in hash order, which would break byte-identity.
        meta = {"lift3d": json.dumps({
            "captions": [s.build().caption for s in chunk],
            "objects": [[s.family, s.colour, s.seed] for s in chunk],
            "config": asdict(cfg),
        }, sort_keys=True)}
        path = out / f"{split}-{k:05d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(render_objects(cfg, chunk), str(tmp), metadata=meta)
        tmp.replace(path)
        paths.append(path)
    return paths


@dataclass
class ProceduralViews(torch.utils.data.Dataset):
    """The views of a written split, decoded to float images (``[H, W, C]`` in [0, 1]) per item."""

    root: str | Path
    split: str = "train"
    arrays: dict[str, Tensor] = field(init=False, repr=False)
    captions: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        files = sorted(Path(self.root).glob(f"{self.split}-*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no {self.split}-*.safetensors shards in {self.root}; run write_split first.")
        parts: dict[str, list[Tensor]] = {}
        self.captions, offset = [], 0
        for f in files:
            data = load_file(str(f))
            data["object"] = data["object"] + offset
            for k, t in data.items():
                parts.setdefault(k, []).append(t)
            with safe_open(str(f), "pt") as handle:
                caps = json.loads(handle.metadata()["lift3d"])["captions"]
            self.captions += caps
            offset += len(caps)
        self.arrays = {k: torch.cat(v) for k, v in parts.items()}

    def __len__(self) -> int:
        return self.arrays["rgb"].shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor | str]:
        a = self.arrays
        item: dict[str, Tensor | str] = {
            "rgb": a["rgb"][i].float() / 255, "alpha": a["alpha"][i].float() / 255,
            "depth": a["depth"][i].float(), "normal": a["normal"][i].float(),
        }
        for k in ("c2w", "elevation", "azimuth", "distance", "fov_y", "family", "colour", "seed"):
            item[k] = a[k][i]
        item["caption"] = self.captions[int(a["object"][i])]
        return item

    def cameras(self, index: Tensor | slice) -> Cameras:
        """The cameras of views ``index``."""
        a = self.arrays
        res = a["rgb"].shape[1]
        cams = Cameras.from_spherical(a["elevation"][index], a["azimuth"][index], a["distance"][index],
                                      a["fov_y"][index], res)
        return Cameras(a["c2w"][index], cams.K, res, res)
