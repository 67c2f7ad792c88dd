#!/usr/bin/env bash
# The exact command of the bundled novel-view prior's training run (seed 0), now with v-prediction.
# Resumable: rerun with --resume to continue from training/novel-view32/ckpt (commit the newest checkpoint when
# stopping, below, so another machine can continue); it exports the EMA weights to lift3d/assets/novel-view32 when done. Export a
# checkpoint of a running or stopped run (e.g. to measure it) with:
#   lift3d train-prior novel-view --output training/novel-view32 --export-to DIR --export-only
# History: the shipped export (lift3d/assets/novel-view32) is still the EMA at step 2800 of the first run, this
# command without --architecture.prediction-type V (epsilon prediction; its config and metrics are the files in
# training/novel-view32); its checkpoint was lost with the machine that trained it. The v-prediction rerun
# (docs/bundled_novel_view_prior.md: why) starts from scratch: training/train_novel_view.sh --overwrite. A first
# try on 2026-12-02 ran 512 steps on a machine 3.4x slower than the one measured in the docs (6.7 s/step on one
# thread) and was stopped: 8000 steps need ~4.5 h of one fast core; commit its newest checkpoint (75 MB; git add -f,
# ckpt/ is git-ignored) when stopping so another machine can continue with --resume.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior novel-view --output training/novel-view32 --seed 0 \
  --steps 8000 --export-to lift3d/assets/novel-view32 --threads 1 --quiet --architecture.prediction-type V "$@"
