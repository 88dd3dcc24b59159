#!/usr/bin/env bash
# On the GPU machine: start (or resume) training in the background on every GPU, logging to runs/NAME/.
# Usage: bash scripts/gpu_train.sh NAME MINUTES [extra train args]
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; minutes="$2"; shift 2
export SASMAMBA_SHARED="$PWD/.cache/shared" PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
mkdir -p "runs/$name"
resume=()
[ -f "runs/$name/last.pt" ] && resume=(--resume "runs/$name/last.pt")
[ -z "${resume[*]}" ] && [ -f ".cache/resume/$name.pt" ] && resume=(--resume ".cache/resume/$name.pt")
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
# the deformable conv implementation scripts/check_gpu.py found fastest among those matching torchvision, when it
# ran earlier in this call (else auto); a --deform-impl among the extra args wins
deform=$(python3 -c "import json, os; print(json.load(open(os.path.join(os.environ['OUT'], 'gpu_check.json')))
.get('recommended_deform_impl', 'auto'))" 2>/dev/null || echo auto)
setsid nohup torchrun --standalone --nproc_per_node "$gpus" -m engine train --out "runs/$name" --bf16 \
  --deform-impl "$deform" --time-limit "$minutes" "${resume[@]}" "$@" > "runs/$name/stdout.log" 2>&1 &
echo "training $name on $gpus GPU(s) for $minutes min, deformable conv $deform (resume: ${resume[*]:-none})"
