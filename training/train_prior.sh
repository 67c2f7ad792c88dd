#!/usr/bin/env bash
# The exact command that trains the shipped bundled prior (seed 0). Resumable: rerun the same command
# (add --resume) to continue from training/prior-text32/ckpt; it exports the EMA weights when done.
# History of the shipped run: steps 1-3000 as below (one thread); steps 3001-8000 with `--resume --threads 2`
# (paused after the step-6800 checkpoint, whose `--export-only` EMA is the shipped export, then run to 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior --output training/prior-text32 --seed 0 --steps 8000 --architecture.azimuth-harmonics 2 \
  --export-to lift3d/assets/prior-text32 --threads 1 --quiet "$@"
