#!/usr/bin/env bash
# On the GPU machine: start (or resume) training in the background on every GPU, logging to runs/NAME/.
# Usage: bash scripts/gpu_train.sh NAME MINUTES [extra train args]
# Env: GPUS=0,1 trains on those GPUs only (CUDA_VISIBLE_DEVICES), so two runs can share a machine (an A/B on 4
# GPUs: GPUS=0,1 for one NAME, GPUS=2,3 for another); RESUME_FROM=PATH resumes a fresh NAME from that checkpoint
# instead of .cache/resume/NAME.pt (both runs of an A/B from one checkpoint); PORT=N puts the rendezvous on
# localhost:N instead of --standalone's free port (each run needs its own; the free port already differs).
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; minutes="$2"; shift 2
export SASMAMBA_SHARED="$PWD/.cache/shared" PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
[ -n "${GPUS:-}" ] && export CUDA_VISIBLE_DEVICES="$GPUS"
mkdir -p "runs/$name"
resume=()
[ -f "runs/$name/last.pt" ] && resume=(--resume "runs/$name/last.pt")
start="${RESUME_FROM:-.cache/resume/$name.pt}"
[ -z "${resume[*]}" ] && [ -f "$start" ] && resume=(--resume "$start")
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")  # counts CUDA_VISIBLE_DEVICES only
rdzv=(--standalone)
[ -n "${PORT:-}" ] && rdzv=(--nnodes 1 --rdzv-backend c10d --rdzv-endpoint "localhost:$PORT" --rdzv-id "$name")
# the deformable conv implementation scripts/check_gpu.py found fastest among those matching torchvision, when it
# ran earlier in this call (else auto: the Triton conv for CUDA training); a --deform-impl among the extra args wins
deform=$(python3 -c "import json, os; print(json.load(open(os.path.join(os.environ['OUT'], 'gpu_check.json')))
.get('recommended_deform_impl', 'auto'))" 2>/dev/null || echo auto)
# the same for the training scan (mamba-ssm's, or engine/triton_selective_scan.py's where check_gpu.py found it equal
# and faster); a --scan-impl among the extra args wins
scan=$(python3 -c "import json, os; print(json.load(open(os.path.join(os.environ['OUT'], 'gpu_check.json')))
.get('recommended_scan_impl', 'auto'))" 2>/dev/null || echo auto)
setsid nohup torchrun "${rdzv[@]}" --nproc_per_node "$gpus" -m engine train --out "runs/$name" --bf16 \
  --deform-impl "$deform" --scan-impl "$scan" --time-limit "$minutes" "${resume[@]}" "$@" > "runs/$name/stdout.log" 2>&1 &
echo "training $name on $gpus GPU(s) ${GPUS:+($GPUS) }for $minutes min, deformable conv $deform," \
  "scan $scan (resume: ${resume[*]:-none})"
