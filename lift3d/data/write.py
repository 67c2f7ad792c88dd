"""Write the procedural multi-view dataset to disk: ``python -m lift3d.data.write --out data/procedural``."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lift3d.data.dataset import SPLITS, DatasetConfig, write_split


@dataclass(frozen=True)
class WriteDatasetConfig:
    """Render the splits of the procedural world into safetensors shards."""

    out: Path = Path("outputs/procedural-dataset")
    """Folder for the shards (``train-00000.safetensors``, ...)."""
    splits: tuple[str, ...] = SPLITS
    """Which splits to write."""
    objects_per_shard: int = 256
    """Objects per shard file."""
    threads: int = 0
    """torch intra-op threads (0 keeps torch's default). The tracer's tensors are small: on a busy
    machine 1 thread was 10x faster than 2 (measured: 25 vs 250 ms per view wall time, load 15 on 2 cores)."""
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    """What to render."""


def write_dataset(cfg: WriteDatasetConfig) -> dict[str, list[Path]]:
    """Write every split in ``cfg.splits``; returns the shard paths per split."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = {}
    for split in cfg.splits:
        start = time.perf_counter()
        out[split] = write_split(cfg.dataset, split, cfg.out, cfg.objects_per_shard)
        print(f"{split}: {len(out[split])} shard(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None, prog: str = "python -m lift3d.data.write") -> None:
    from lift3d.errors import parse_args

    write_dataset(parse_args(WriteDatasetConfig, sys.argv[1:] if argv is None else argv, prog))


if __name__ == "__main__":
    main()
