#!/usr/bin/env bash
# The exact command that trains the shipped recon-tiny model (seed 0, one CPU thread). Resumable: rerun
# with --resume to continue from training/recon-tiny/ckpt; it exports the model when done.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_WAIT_POLICY=PASSIVE exec .venv/bin/python -c 'import sys; from lift3d.recon.train import main; main(sys.argv[1:])' \
  --output training/recon-tiny --seed 0 --export-to lift3d/assets/recon-tiny --threads 1 --quiet "$@"
