#!/usr/bin/env bash
# The GPU checks, as one short script for the lent GPU machine (it has python3 with
# torch 2.11.0+cu130, and no Rust): the parity check with its CUDA configurations, and the
# CUDA rows of the benchmark, run from binaries built here.
#
#   here:  scripts/gpu_check.sh --prepare     # builds the programs and the C++ twin, copies them to gpu-bin/
#   there: (carry gpu-bin and data)  bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
  .venv/bin/python scripts/bench.py --build-only
  cargo build --release
  mkdir -p gpu-bin
  cp target/release/{softmax,autograd_demo,fc_demo,activations,classify,bench,bench-twin} gpu-bin/
  echo "gpu-bin ready: carry gpu-bin and data"
  exit 0
fi
LD_LIBRARY_PATH="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH
nvidia-smi -L || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
python3 scripts/parity.py --bin-dir gpu-bin
python3 scripts/bench.py --bin-dir gpu-bin --no-doc --rounds 3 --threads 1 --devices cuda
