#!/usr/bin/env bash
# The device check of the gpu profile: every experiment with full-size random-init models built from
# configs (BEiT-base-patch16-224, MiT-b0, BEiT-base 640 px, the gpu profile's BERT; nothing is
# downloaded), capped steps, a temporary results folder; prints images/s or tokens/s per experiment,
# peak GPU memory, the precision and whether torch.compile ran, and writes .cache/gpu_check.json
# (--out FILE: elsewhere).
# Made to finish in <= 8 minutes on one H200 (the timeout below stops it at 8).
#
#   benchmarks/gpu_check.sh                          # on a machine with a CUDA GPU
#   benchmarks/gpu_check.sh --device cpu --tiny      # the same path on a CPU, tiny sizes
#
# Other options are passed on to benchmarks/gpu_check.py (--max-steps N, --data-root DIR, --only, --out).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1      # nothing is downloaded
export HW1_CACHE_DIR="${HW1_CACHE_DIR:-$(mktemp -d /tmp/hw1-gpu-check-cache.XXXXXX)}"
exec timeout --signal=INT 480 "$PY" benchmarks/gpu_check.py "$@"
