#!/usr/bin/env bash
# The exact command that trains the shipped bundled reward model (seed 0, one torch thread). Resumable: rerun
# with --resume to continue from training/reward-text32/ckpt; it exports the final weights when done.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-reward --output training/reward-text32 --seed 0 \
  --steps 1600 --export-to lift3d/assets/reward-text32 --threads 1 --quiet "$@"
