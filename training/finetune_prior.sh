#!/usr/bin/env bash
# The bundled text prior's second stage (seed 0): fine-tune the step-8000 export of stage 1
# (lift3d/assets/prior-text32 as of commit f649057; itself `training/train_prior.sh`) with a camera condition of
# four azimuth harmonics instead of two, so square objects' yaw (a function of 4 az) is one input away
# (docs/bundled_prior.md: why). The new harmonics' weights start at zero: step 0 is stage 1's model exactly.
# Two torch threads. Resumable: rerun with --resume. Export a checkpoint (the run does not overwrite the
# shipped prior itself):
#   lift3d train-prior --output training/prior-text32-h4 --export-to lift3d/assets/prior-text32 --export-only
# Commit the newest checkpoint (git add -f, ckpt/ is git-ignored) when stopping so another machine can continue.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior --output training/prior-text32-h4 --seed 0 \
  --steps 3000 --batch-size 32 --lr 3e-4 --warmup-steps 100 --threads 2 --quiet --architecture.azimuth-harmonics 4 \
  --init-from lift3d/assets/prior-text32 "$@"
