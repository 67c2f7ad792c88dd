"""The multi-view dataset with random compositions mixed in: ``python -m lift3d.data.mixed --random-fraction 0.5``.

LRM-Zero (arXiv 2406.09371) shows that random, semantics-free compositions (Zeroverse) teach
reconstruction rather than a catalogue. :class:`MixedDatasetConfig` wraps the families' ``DatasetConfig``
and replaces a seeded ``random_fraction`` of the ``train`` and ``val`` objects by
:func:`lift3d.data.zeroverse.random_composition` objects (each keeps the replaced object's seed, so seeds
stay unique and cameras come from :func:`lift3d.data.dataset.object_cameras` as before). ``test`` keeps
the held-out family/colour combinations; the extra split ``ood`` holds :func:`lift3d.data.ood.ood_objects`.

Random and OOD views carry ``family = colour = -1`` (no label) in the shards. At ``random_fraction=0``
the ``train``/``val``/``test`` shards are byte-identical to :func:`lift3d.data.dataset.write_split`'s.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from lift3d.data.dataset import DatasetConfig, ObjectSpec, _seeded, object_cameras, render_objects, split_objects
from lift3d.data.ood import ood_objects
from lift3d.data.tracer import render_object
from lift3d.data.zeroverse import RandomObject, ZeroverseConfig, random_composition

MIXED_SPLITS: tuple[str, ...] = ("train", "val", "test", "ood")
OOD_FIRST_SEED = 10**12
"""Camera seeds of the OOD objects (``OOD_FIRST_SEED + index``), far from every object seed."""


@dataclass(frozen=True)
class RandomSpec:
    """A random composition of the dataset (``family`` ``"random"``) or an OOD object (its name)."""

    seed: int
    config: ZeroverseConfig = ZeroverseConfig()
    family: str = "random"
    colour: str = ""

    def build(self) -> RandomObject:
        if self.family == "random":
            return random_composition(self.seed, config=self.config)
        return ood_objects()[self.seed - OOD_FIRST_SEED]


@dataclass(frozen=True)
class MixedDatasetConfig:
    """The families' dataset with a fraction of its training objects replaced by random compositions."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    """Families, colours, views and split rules (as :class:`lift3d.data.dataset.DatasetConfig`)."""
    random_fraction: float = 0.0
    """Fraction of ``train`` and ``val`` objects replaced by random compositions (0: the families' data
    exactly; 1: random compositions only)."""
    zeroverse: ZeroverseConfig = field(default_factory=ZeroverseConfig)
    """Recipe of the random compositions."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.random_fraction <= 1.0:
            raise ValueError(f"random_fraction must be in [0, 1], got {self.random_fraction}")


def split_mixed(cfg: MixedDatasetConfig) -> dict[str, list[ObjectSpec | RandomSpec]]:
    """:func:`lift3d.data.dataset.split_objects` with ``round(random_fraction * n)`` of the ``n`` train (and
    val) objects, chosen by a seeded permutation, replaced by random compositions; plus the ``ood`` split."""
    splits: dict[str, list[ObjectSpec | RandomSpec]] = dict(split_objects(cfg.dataset))
    for split in ("train", "val"):
        specs = list(splits[split])
        n = round(cfg.random_fraction * len(specs))
        for i in torch.randperm(len(specs), generator=_seeded("random", cfg.dataset.seed, split))[:n].tolist():
            specs[i] = RandomSpec(specs[i].seed, cfg.zeroverse)
        splits[split] = specs
    splits["ood"] = [RandomSpec(OOD_FIRST_SEED + i, family=o.family) for i, o in enumerate(ood_objects())]
    return splits


def render_mixed(cfg: MixedDatasetConfig, specs: list[ObjectSpec | RandomSpec]) -> dict[str, Tensor]:
    """As :func:`lift3d.data.dataset.render_objects` (same arrays, family objects rendered by it);
    random and OOD objects get ``family = colour = -1``."""
    parts: dict[str, list[Tensor]] = {}
    for i, spec in enumerate(specs):
        if isinstance(spec, ObjectSpec):
            row = render_objects(cfg.dataset, [spec])
            row["object"] = torch.full_like(row["object"], i)
        else:
            d = cfg.dataset
            cams = object_cameras(d, spec)
            out = render_object(spec.build(), cams, background=d.background, supersample=d.supersample)
            elev, azim, dist = cams.spherical()
            v = len(cams)
            row = {"rgb": (out.rgb * 255).round().to(torch.uint8), "alpha": (out.alpha * 255).round().to(torch.uint8),
                   "depth": out.depth.half(), "normal": out.normal.half(), "c2w": cams.c2w, "elevation": elev,
                   "azimuth": azim, "distance": dist, "fov_y": cams.fov_y_deg, "family": torch.full((v,), -1),
                   "colour": torch.full((v,), -1), "object": torch.full((v,), i), "seed": torch.full((v,), spec.seed)}
        for k, t in row.items():
            parts.setdefault(k, []).append(t)
    return {k: torch.cat(v).contiguous() for k, v in parts.items()}


def write_mixed_split(cfg: MixedDatasetConfig, split: str, out_dir: str | Path,
                      objects_per_shard: int = 256) -> list[Path]:
    """Render ``split`` (one of :data:`MIXED_SPLITS`) into shards readable by
    :class:`lift3d.data.dataset.ProceduralViews`, as :func:`lift3d.data.dataset.write_split` does.

    Metadata ``objects`` rows are ``[family, colour, seed]`` (``["random", "", seed]``, ``[name, "", seed]``
    for OOD objects); ``zeroverse`` (fraction and recipe) is added when random or OOD objects are present.
    """
    if split not in MIXED_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {MIXED_SPLITS}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = split_mixed(cfg)[split]
    paths = []
    for k, start in enumerate(range(0, len(specs), objects_per_shard)):
        chunk = specs[start:start + objects_per_shard]
        meta: dict[str, object] = {"captions": [s.build().caption for s in chunk],
                                   "objects": [[s.family, s.colour, s.seed] for s in chunk],
                                   "config": asdict(cfg.dataset)}
        if any(isinstance(s, RandomSpec) for s in specs):
            meta["zeroverse"] = {"random_fraction": cfg.random_fraction, "recipe": asdict(cfg.zeroverse)}
        path = out / f"{split}-{k:05d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(render_mixed(cfg, chunk), str(tmp), metadata={"lift3d": json.dumps(meta, sort_keys=True)})
        tmp.replace(path)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class WriteMixedConfig:
    """Render the splits of the families mixed with random compositions, and the OOD split."""

    out: Path = Path("outputs/mixed-dataset")
    """Folder for the shards."""
    splits: tuple[str, ...] = MIXED_SPLITS
    """Which splits to write."""
    objects_per_shard: int = 256
    threads: int = 0
    """torch intra-op threads (0 keeps torch's default; 1 is fastest on a busy machine)."""
    random_fraction: float = 0.5
    """Fraction of train/val objects replaced by random compositions."""
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    zeroverse: ZeroverseConfig = field(default_factory=ZeroverseConfig)


def main(argv: list[str] | None = None, prog: str = "python -m lift3d.data.mixed") -> None:
    from lift3d.errors import parse_args

    cfg = parse_args(WriteMixedConfig, sys.argv[1:] if argv is None else argv, prog)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    mixed = MixedDatasetConfig(cfg.dataset, cfg.random_fraction, cfg.zeroverse)
    for split in cfg.splits:
        start = time.perf_counter()
        paths = write_mixed_split(mixed, split, cfg.out, cfg.objects_per_shard)
        print(f"{split}: {len(paths)} shard(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
