#!/usr/bin/env bash
# On the GPU machine, at the end of a training slice: wait for training to stop, bring back checkpoints,
# evaluate the best one on S9/S11, re-check the deformable conv against torchvision.
set -uo pipefail
cd "$(dirname "$0")/.."
name="$1"
export PYTHONPATH=$PWD SASMAMBA_SHARED=$PWD/.cache/shared
for _ in $(seq 60); do pgrep -f "[e]ngine train" >/dev/null || break; sleep 5; done
bash scripts/gpu_collect.sh "$name"
ck="runs/$name/best.pt"; [ -f "$ck" ] || ck="runs/$name/last.pt"
python3 -m engine evaluate --checkpoint "$ck" --out "$OUT/eval" --batch 128 2>&1 | tail -12
python3 scripts/check_gpu.py "$OUT/gpu_check_final.json" --quick 2>&1 | tail -8
