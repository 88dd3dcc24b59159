#!/usr/bin/env bash
# On the GPU machine, at the end of a training slice: wait for training to stop, bring back checkpoints,
# evaluate the best one on S9/S11 and, on a machine of several GPUs, run the full kernel check and timings
# (scripts/check_gpu.py) on the second GPU meanwhile; on one GPU, only re-check the kernels against the references.
set -uo pipefail
cd "$(dirname "$0")/.."
name="$1"
export PYTHONPATH=$PWD SASMAMBA_SHARED=$PWD/.cache/shared
for _ in $(seq 60); do pgrep -f "[e]ngine train" >/dev/null || break; sleep 5; done
bash scripts/gpu_collect.sh "$name"
ck="runs/$name/best.pt"; [ -f "$ck" ] || ck="runs/$name/last.pt"
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
  CUDA_VISIBLE_DEVICES=1 python3 scripts/check_gpu.py "$OUT/gpu_check_full.json" > "runs/check_full.log" 2>&1 &
  check=$!
fi
CUDA_VISIBLE_DEVICES=0 python3 -m engine evaluate --checkpoint "$ck" --out "$OUT/eval" --batch 128 2>&1 | tail -12
if [ "$gpus" -gt 1 ]; then wait "$check"; tail -n 4 runs/check_full.log
else python3 scripts/check_gpu.py "$OUT/gpu_check_final.json" --quick 2>&1 | tail -8; fi
