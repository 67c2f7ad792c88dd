#!/usr/bin/env bash
# The exact commands that trained the shipped recon-tiny model (seed 0, one CPU thread):
#   phase 1: training/train_recon.sh                         (steps 1-1600, cosine schedule over 1600 steps)
#   phase 2: training/train_recon.sh --resume --steps 3000   (steps 1601-3000; the cosine is re-evaluated over
#            3000 steps, a warm restart from 0.1x to ~0.5x the peak learning rate)
#   phase 3: training/train_recon.sh --resume --steps 8000   (steps 3001-8000; again a warm restart, to ~0.73x
#            the peak, decaying to 0.1x at step 8000; ~25 min of one thread sharing the CPU with another job)
# Resumable at any point with --resume; it exports the model to lift3d/assets/recon-tiny when done (phases 1-3; the
# shipped weights are now phase 6 of training/train_recon_wide2.sh, which starts from this run through phase 5).
# Its checkpoints were removed from the tree (phase 3, step 8000: `git show f2fca0b:training/recon-tiny/ckpt/...`;
# phase 4, step 11500, not shipped: e4ce2d3); metrics.csv keeps the curves.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-tiny --seed 0 --export-to lift3d/assets/recon-tiny --threads 1 --quiet "$@"
