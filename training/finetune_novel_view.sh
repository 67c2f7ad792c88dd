#!/usr/bin/env bash
# The bundled novel-view prior's second stage (seed 0): fine-tune the step-2800 epsilon-prediction export
# (lift3d/assets/novel-view32 as of commit 0bc4a37; itself `training/train_novel_view.sh` without
# --architecture.prediction-type V, stopped at step 2800) to v prediction, which recovers the image at the
# zero-SNR end of the schedule (docs/bundled_novel_view_prior.md: why). Two torch threads.
# Planned 4000 steps, continued to 6000 (--resume --steps 6000; the learning rate is constant after warm-up) and
# stopped at 4700, the shipped export. A fresh run needs the epsilon export of commit 0bc4a37 at --init-from
# (`git show 0bc4a37:lift3d/assets/novel-view32/...`); a resumed run ignores --init-from.
# Resumable: rerun with --resume. Export a checkpoint (the run does not overwrite the shipped prior itself):
#   lift3d train-prior novel-view --output training/novel-view32-v --export-to lift3d/assets/novel-view32 --export-only
# Commit the newest checkpoint (75 MB; git add -f, ckpt/ is git-ignored) when stopping so another machine can continue.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/lift3d train-prior novel-view --output training/novel-view32-v --seed 0 \
  --steps 6000 --lr 3e-4 --warmup-steps 100 --threads 2 --quiet --architecture.prediction-type V \
  --init-from lift3d/assets/novel-view32 "$@"
