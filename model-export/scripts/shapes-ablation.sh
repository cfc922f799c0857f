#!/usr/bin/env bash
# Reproduces the attention ablation table (SA-MUNIT vs plain MUNIT, same budget, same seeds) on the
# 32 px circles-vs-squares benchmark: runs/ablation32/ablation.md and ablation.json.
#
#   scripts/shapes-ablation.sh                          # from model-export/, with .venv set up
#   MAX_ITER=20000 SEEDS=1,2,3,4,5 scripts/shapes-ablation.sh
#
# Runs resume and finished ones are not redone: stop it any time and run it again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-data/shapes32}
JUDGES=${JUDGES:-data/judges32.pt}
OUT=${OUT:-runs/ablation32}
MAX_ITER=${MAX_ITER:-3000}
SEEDS=${SEEDS:-1,2,3}
DEVICE=${DEVICE:-auto}

[ -f "$DATA/benchmark.json" ] || "$PYTHON" -m sa_munit make-benchmark --out "$DATA" --image-size 32
[ -f "$JUDGES" ] || "$PYTHON" -m sa_munit train-judges --data "$DATA" --out "$JUDGES"
"$PYTHON" -m sa_munit ablation --arms configs/shapes32_sa_munit.yaml configs/shapes32_munit.yaml \
  --seeds "$SEEDS" --max-iter "$MAX_ITER" --data "$DATA" --judges "$JUDGES" --out "$OUT" --device "$DEVICE"
