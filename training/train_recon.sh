#!/usr/bin/env bash
# The exact commands that trained the shipped recon-tiny model (seed 0, one CPU thread):
#   phase 1: training/train_recon.sh                         (steps 1-1600, cosine schedule over 1600 steps)
#   phase 2: training/train_recon.sh --resume --steps 3000   (steps 1601-3000; the cosine is re-evaluated over
#            3000 steps, a warm restart from 0.1x to ~0.5x the peak learning rate)
# Resumable at any point with --resume; it exports the model to lift3d/assets/recon-tiny when done.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-tiny --seed 0 --export-to lift3d/assets/recon-tiny --threads 1 --quiet "$@"
