#!/usr/bin/env bash
# Stage 1 of the bundled novel-view prior (seed 0): epsilon prediction from scratch. The shipped chain stopped it
# at step 2800 and exported that EMA (lift3d/assets/novel-view32 as of commit 0bc4a37), which stage 2,
# training/finetune_novel_view.sh, fine-tunes to v prediction (docs/bundled_novel_view_prior.md: why).
# Resumable: rerun with --resume. Export a checkpoint of a running or stopped run with:
#   lift3d train-prior novel-view --output training/novel-view32 --export-to DIR --export-only
# Its checkpoint was lost with the machine that trained it; training/novel-view32 keeps its config and metrics.
# (Adding --architecture.prediction-type V trains v prediction from scratch instead: tried on 2026-12-02 for
# 512 steps, v-MSE 0.76 -> 0.085, then replaced by the much cheaper fine-tune.)
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior novel-view --output training/novel-view32 --seed 0 \
  --steps 8000 --export-to lift3d/assets/novel-view32 --threads 1 --quiet "$@"
