#!/usr/bin/env bash
# The exact command that trains the shipped bundled novel-view prior (seed 0). Resumable: rerun the same command
# with --resume to continue from training/novel-view32/ckpt; it exports the EMA weights when done. Export a
# checkpoint of a running or stopped run with: lift3d train-prior novel-view --output training/novel-view32
#   --export-to lift3d/assets/novel-view32 --export-only
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior novel-view --output training/novel-view32 --seed 0 \
  --steps 8000 --export-to lift3d/assets/novel-view32 --threads 1 --quiet "$@"
