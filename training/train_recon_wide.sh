#!/usr/bin/env bash
# Phase 5 of the reconstruction model (issue 9): fine-tune the shipped step-8000 recon-tiny on 128 objects per
# family (1792 objects instead of 336, seeds 1..128; phase 4 showed the model overfitting its 336 objects), with a
# fresh AdamW and cosine schedule (peak 5e-4, 100 warm-up steps, to 0.1x at --steps). Seed 0, one CPU thread.
# Exports to /tmp/recon-wide for evaluation (python -m lift3d.recon.evaluate --model /tmp/recon-wide); the
# shipped lift3d/assets/recon-tiny is replaced only if it measures better. Resumable with --resume.
# Its checkpoint and export were removed from the tree (both in commit 6484049, `git show 6484049:training/recon-wide/...`);
# a fresh run needs the step-8000 export of commit f2fca0b at --init-from (lift3d/assets/recon-tiny is now phase 6).
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-wide --seed 0 --export-to /tmp/recon-wide --threads 1 --quiet \
  --init-from lift3d/assets/recon-tiny --data.seeds-per-family 128 --lr 5e-4 --warmup-steps 100 --steps 6000 "$@"
