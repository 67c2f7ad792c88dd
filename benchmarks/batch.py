"""Throughput of ``lift3d batch`` on a local Ray instance with 1 and 2 workers (CPU).

Tiny jobs: text-to-3D on a randomly initialised 16 px bundled prior (``--steps`` steps at 16 px, one view
per step, a 2-frame turntable and the mesh export), so the numbers measure the batch machinery plus
small real jobs, not model quality. For each worker count a fresh Ray instance (``num_cpus`` = workers)
first runs one warm-up job per worker (process start and imports excluded), then ``--jobs`` timed jobs.
Last line: ``batch: workers1=<jobs/h> workers2=<jobs/h> ratio=<workers2/workers1>``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def tiny_prior(path: Path) -> Path:
    import torch

    from lift3d.priors.bundled import BundledArchitecture, build_tokenizer, caption_vocabulary, save_bundled

    torch.manual_seed(0)
    arch = BundledArchitecture(resolution=16, block_out_channels=(16, 32), text_dim=32, text_layers=1)
    tok = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    save_bundled(path, arch.unet(), arch.text_encoder(len(tok)), tok, arch.scheduler())
    return path


def _check(result, expected: int, what: str) -> None:
    """Jobs that died (a worker killed by the OOM killer, a crash; Ray retried them) stop the benchmark with one line."""
    if result.done == expected:
        return
    from lift3d.batch.manifest import Manifest

    errors = [r.get("error") for r in Manifest(result.manifest).records() if r.get("status") != "done"]
    first = next((e for e in errors if e), "no error recorded")
    raise SystemExit(f"benchmarks/batch.py: {what}: {expected - result.done} of {expected} jobs did not finish "
                     f"(first error: {first})")


def jobs_per_hour(workers: int, jobs: int, steps: int, prior: Path, root: Path) -> float:
    import ray

    from lift3d.batch.manifest import Manifest
    from lift3d.batch.runner import BatchConfig, run_batch

    args = ("--stage.steps", str(steps), "--stage.resolution", "16", "--stage.views-per-step", "1",
            "--turntable-frames", "2", "prior:bundled", "--prior.path", str(prior))
    colours = ("red", "blue", "green", "yellow", "orange", "purple", "white", "black")
    shapes = ("cube", "sphere", "cone", "torus", "cylinder")
    prompts = [f"a {colours[i % len(colours)]} {shapes[i % len(shapes)]}" for i in range(jobs + workers)]
    (root / "warmup.txt").write_text("\n".join(prompts[:workers]) + "\n")
    (root / "timed.txt").write_text("\n".join(f"{p} (seed {i})" for i, p in enumerate(prompts[workers:])) + "\n")
    ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=128 * 1024 ** 2, log_to_driver=False)
    try:
        warm = run_batch(BatchConfig(jobs=root / "warmup.txt", output=root / f"warm{workers}", quiet=True), args)
        _check(warm, workers, f"warm-up ({workers} worker(s))")
        start = time.perf_counter()
        result = run_batch(BatchConfig(jobs=root / "timed.txt", output=root / f"timed{workers}", quiet=True), args)
        seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    _check(result, jobs, f"timed run ({workers} worker(s))")
    rate = jobs / seconds * 3600
    records = Manifest(result.manifest).records()
    busy = sum(r["seconds"] for r in records) / len(records)
    rss = max(r["peak_rss_mb"] for r in records)
    print(f"workers={workers}: {jobs} jobs in {seconds:.1f} s = {rate:.0f} jobs/hour; a job takes {busy:.1f} s in its "
          f"worker; peak worker memory {rss:.0f} MiB; retries {sum(r['attempts'] - 1 for r in records)}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prior = tiny_prior(root / "prior")
        one = jobs_per_hour(1, args.jobs, args.steps, prior, root)
        two = jobs_per_hour(2, args.jobs, args.steps, prior, root)
    print(f"batch: workers1={one:.0f} workers2={two:.0f} ratio={two / one:.2f}")


if __name__ == "__main__":
    main()
