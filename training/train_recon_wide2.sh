#!/usr/bin/env bash
# Phase 6 of the reconstruction model (issue 9): fine-tune phase 5 (training/train_recon_wide.sh, exported to
# training/recon-wide/export) on 256 objects per family (3584 objects, seeds 1..256), fresh AdamW and cosine schedule
# (peak 3e-4, 100 warm-up steps, to 0.1x at --steps). Seed 1 (other random views of the objects), one CPU thread.
# Exports to /tmp/recon-wide2; that export, measured better (docs/reconstruct.md), is the shipped lift3d/assets/recon-tiny
# (its byte-identical copy training/recon-wide2/export was removed). Resumable with --resume from the committed
# ckpt/step_00006000 (a resumed run ignores --init-from); a fresh run needs phase 5's export, removed from the tree:
#   mkdir -p training/recon-wide/export && for f in config.json diffusion_pytorch_model.safetensors; do
#     git show 6484049:training/recon-wide/export/$f > training/recon-wide/export/$f; done
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-wide2 --seed 1 --export-to /tmp/recon-wide2 --threads 1 --quiet \
  --init-from training/recon-wide/export --data.seeds-per-family 256 --lr 3e-4 --warmup-steps 100 --steps 6000 "$@"
