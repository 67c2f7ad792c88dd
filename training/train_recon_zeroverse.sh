#!/usr/bin/env bash
# Issue 33: fine-tune the shipped reconstruction model (lift3d/assets/recon-tiny, phase 6) on families + Zeroverse-style
# random compositions (LRM-Zero, arXiv 2406.09371), 50/50: the 256 objects per family of phase 6 (seeds 1..256, 3584
# objects) with a seeded half of them replaced by lift3d.data.zeroverse.random_composition objects in their own textured
# colours (--data.random-fraction 0.5; rendered once, ~10 min of one core, cached in the run folder). Fresh AdamW and
# cosine schedule (peak 3e-4, 100 warm-up steps, to 0.1x at step 6000), seed 3, one CPU thread, a checkpoint every 100
# steps (~1-3 min; 4.9 MB, only the newest kept). Exports to /tmp/recon-zeroverse when done.
# Started as:   nohup nice -n 19 training/train_recon_zeroverse.sh > /tmp/recon_zeroverse.log 2>&1 &
# Resume:       the same command (it adds --resume once training/recon-zeroverse exists).
# Export now:   training/train_recon_zeroverse.sh --export-only     (newest checkpoint -> /tmp/recon-zeroverse)
# Evaluate:     .venv/bin/python -m lift3d.recon.evaluate --model /tmp/recon-zeroverse --refine-seeds-per-family 0
set -euo pipefail
cd "$(dirname "$0")/.."
resume=()
if [[ -d training/recon-zeroverse && " $* " != *" --export-only "* ]]; then resume=(--resume); fi
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-zeroverse --seed 3 --export-to /tmp/recon-zeroverse --threads 1 --quiet \
  --init-from lift3d/assets/recon-tiny --data.seeds-per-family 256 --data.random-fraction 0.5 \
  --lr 3e-4 --warmup-steps 100 --steps 6000 --checkpoint-every 100 --keep-checkpoints 1 "${resume[@]}" "$@"
