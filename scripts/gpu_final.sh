#!/usr/bin/env bash
# On the GPU machine, at the end of a training slice: wait for training to stop, bring back checkpoints,
# evaluate the best one on S9/S11 and, on a machine of several GPUs, run the full kernel check and timings
# (scripts/check_gpu.py) on the second GPU meanwhile; on one GPU, only re-check the kernels against the references.
# Usage: bash scripts/gpu_final.sh NAME            (one run)
#        bash scripts/gpu_final.sh NAME1 NAME2     (an A/B: each run's best.pt evaluated on its own GPU at once;
#   back come each run's last.pt, best.pt, log.jsonl and eval_NAME/h36m_eval.json: the 8 files a call returns.
#   Here, `python -m engine evaluate`'s report: engine.evaluate.write_markdown on that JSON)
#   With a third GPU free, the engine's GPU bench (scripts/bench_gpu_scan.py --quick) runs on it meanwhile; its
#   figures are printed at the end (a ninth file would not come back). BENCH=0 skips it.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD SASMAMBA_SHARED=$PWD/.cache/shared
bash scripts/gpu_data.sh  # this call's carry replaced .cache and the unpacked joints with it
for _ in $(seq 60); do pgrep -f "[e]ngine train" >/dev/null || break; sleep 5; done
best() { if [ -f "runs/$1/best.pt" ]; then echo "runs/$1/best.pt"; else echo "runs/$1/last.pt"; fi; }
print_bench() {  # the bench's figures, as text: the call's 8 files are taken
  for _ in $(seq 60); do pgrep -f "[b]ench_gpu_scan" >/dev/null || break; sleep 5; done
  tail -n 2 runs/scan.log
  python3 -c "import json; d = json.load(open('runs/scan.json')); print(json.dumps({k: v for k, v in d.items()
if k.startswith(('device', 'torch', 'model_', 'deform_', 'accuracy_', 'lift_', 'errors', 'skipped'))}))"
}
if [ $# -gt 1 ]; then
  FILES="last.pt best.pt log.jsonl" bash scripts/gpu_collect.sh "$@"
  gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
  bench=0
  if [ "${BENCH:-1}" != 0 ] && [ "$gpus" -gt $# ]; then
    CUDA_VISIBLE_DEVICES=$# PYTHONPATH=.:scripts python3 scripts/bench_gpu_scan.py runs/scan.json --quick \
      > runs/scan.log 2>&1 &
    bench=1
  fi
  pids=(); gpu=0
  for name in "$@"; do
    CUDA_VISIBLE_DEVICES=$gpu python3 -m engine evaluate --checkpoint "$(best "$name")" --out "$OUT/eval_$name" \
      --batch 128 > "runs/$name/eval.log" 2>&1 &
    pids+=($!); gpu=$((gpu + 1))
  done
  for i in "${!pids[@]}"; do
    wait "${pids[i]}"; echo "== ${*:i+1:1}"; tail -n 12 "runs/${*:i+1:1}/eval.log"
    rm -f "$OUT/eval_${*:i+1:1}/h36m.md"  # the JSON holds it all; the file count is at its limit
  done
  [ "$bench" = 1 ] && print_bench
  exit 0
fi
name="$1"
bash scripts/gpu_collect.sh "$name"
ck=$(best "$name")
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
  CUDA_VISIBLE_DEVICES=1 python3 scripts/check_gpu.py "$OUT/gpu_check_full.json" > "runs/check_full.log" 2>&1 &
  check=$!
fi
CUDA_VISIBLE_DEVICES=0 python3 -m engine evaluate --checkpoint "$ck" --out "$OUT/eval" --batch 128 2>&1 | tail -12
if [ "$gpus" -gt 1 ]; then wait "$check"; tail -n 4 runs/check_full.log
else python3 scripts/check_gpu.py "$OUT/gpu_check_final.json" --quick 2>&1 | tail -8; fi
