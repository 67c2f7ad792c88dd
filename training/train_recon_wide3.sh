#!/usr/bin/env bash
# Phase 7 of the reconstruction model (issue 9 follow-up, not shipped yet): fine-tune phase 6 (the shipped
# lift3d/assets/recon-tiny, copied in training/recon-wide2/export) on 512 objects per family (7168 objects, seeds 1..512),
# fresh AdamW and cosine schedule (peak 3e-4, 100 warm-up steps, to 0.1x at --steps), seed 2, one CPU thread.
# Exports to /tmp/recon-wide3 for evaluation. Stopped at step 2900 of 10000 before any held-out evaluation; its
# checkpoint was removed from the tree (`git show d14c92a:training/recon-wide3/ckpt/step_00002900/...`, then --resume)
# and so was training/recon-wide2/export, a byte-identical copy of lift3d/assets/recon-tiny: pass
# --init-from lift3d/assets/recon-tiny (the same weights) for a fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-wide3 --seed 2 --export-to /tmp/recon-wide3 --threads 1 --quiet \
  --init-from training/recon-wide2/export --data.seeds-per-family 512 --lr 3e-4 --warmup-steps 100 --steps 10000 "$@"
