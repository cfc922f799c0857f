#!/usr/bin/env bash
# Reproduces models/sa-munit-shapes, the demo model the service serves by default:
# benchmark -> judges -> training (resumable) -> evaluation -> ONNX export -> evaluation of the export.
#
#   scripts/shapes-demo.sh                 # from model-export/, with .venv set up
#   DEVICE=cuda scripts/shapes-demo.sh     # train on a GPU; the export still serves on CPU
#   MAX_ITER=40000 scripts/shapes-demo.sh  # continue the same run past the config's budget
#
# Every step skips what is already done, and training resumes from its checkpoint, so the script
# can be stopped (Ctrl-C saves a checkpoint) and run again until the budget in the config is reached.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
CONFIG=${CONFIG:-configs/shapes_sa_munit.yaml}
DATA=${DATA:-data/shapes64}
JUDGES=${JUDGES:-data/judges64.pt}
RUN=${RUN:-runs/shapes-sa-munit}
OUT=${OUT:-../models/sa-munit-shapes}
VERSION=${VERSION:-$(date -u +%Y-%m-%d).1}
DEVICE=${DEVICE:-auto}

[ -f "$DATA/benchmark.json" ] || "$PYTHON" -m sa_munit make-benchmark --out "$DATA" --image-size 64
[ -f "$JUDGES" ] || "$PYTHON" -m sa_munit train-judges --data "$DATA" --out "$JUDGES"

resume=()
[ -f "$RUN/checkpoint.pt" ] && resume=(--resume)
"$PYTHON" -m sa_munit train --config "$CONFIG" --data "$DATA" --run "$RUN" --device "$DEVICE" "${resume[@]}" \
  ${MAX_ITER:+--max-iter "$MAX_ITER"}

"$PYTHON" -m sa_munit evaluate --checkpoint "$RUN/checkpoint.pt" --data "$DATA" --judges "$JUDGES" --out "$RUN/eval"
"$PYTHON" -m sa_munit export --config "$CONFIG" --checkpoint "$RUN/checkpoint.pt" --out "$OUT" --version "$VERSION" \
  --fixture-size 32 --metrics "$RUN/eval/evaluation.json" --overwrite
"$PYTHON" -m sa_munit evaluate --onnx "$OUT" --data "$DATA" --judges "$JUDGES" --out "$OUT/evaluation"
du -sh "$OUT"
