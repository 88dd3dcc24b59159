#!/usr/bin/env bash
# Augmentation ablation: short fine-tunes from one checkpoint, one variant per GPU in parallel (one process each,
# not torchrun), equal steps and seed, then every run's last.pt and the start itself scored on validation with
# ground-truth 2D, noisy 2D, virtual cameras and virtual subjects (`python -m engine validate`).
#
# Usage (repo root, PYTHONPATH and SASMAMBA_SHARED exported):
#   bash scripts/gpu_ablate.sh START.pt|START.npz STEPS RUNDIR [extra train args, e.g. --lr-decay 0.98]
# Writes RUNDIR/VARIANT/{last.pt,stdout.log,seconds}, RUNDIR/val_GPU.{json,log}; and under ${OUT:-RUNDIR} only
# ablation.json and ablate_log.txt (a device call returns at most 8 files). Prints a markdown table.
# Env: DEFORM_IMPL (default auto), ABLATE_DEVICE=cpu (variants one after another on CPU, fp32: the tests),
# ABLATE_VARIANTS (default "all no_flip no_noise no_virtual"; also bone_aug: --bone-aug 0.5),
# VAL_ARGS (extra `engine validate` args), PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
start="$1"; steps="$2"; rundir="$3"; shift 3
out="${OUT:-$rundir}"
py="${PYTHON:-python3}"
deform="${DEFORM_IMPL:-auto}"
read -r -a variants <<< "${ABLATE_VARIANTS:-all no_flip no_noise no_virtual}"
base=(--seed 0 --batch 16 --lr 7e-4)  # every variant's training arguments (the report quotes them)
# as scripts/ablation_report.py's VARIANT_FLAGS; bone_aug only when ABLATE_VARIANTS names it
declare -A flags=([all]="" [no_flip]="--flip-p 0" [no_noise]="--noise-p 0" [no_virtual]="--virtual-p 0"
                  [bone_aug]="--bone-aug 0.5")
export PYTHONUNBUFFERED=1
mkdir -p "$rundir" "$out"
log="$out/ablate_log.txt"
: > "$log"

if [ "${ABLATE_DEVICE:-cuda}" = cpu ]; then
  slots=1; precision=(); export CUDA_VISIBLE_DEVICES=""
else
  slots=$("$py" -c "import torch; print(torch.cuda.device_count())")
  [ "$slots" -ge 1 ] || { echo "no CUDA device (ABLATE_DEVICE=cpu runs on CPU)" | tee -a "$log"; exit 1; }
  precision=(--bf16)
  # the runs synthesise batches on their GPU; share the CPU cores rather than oversubscribe them
  export OMP_NUM_THREADS=$(( $(nproc) / slots > 0 ? $(nproc) / slots : 1 ))
fi
gpu_env() { [ "${ABLATE_DEVICE:-cuda}" = cpu ] && echo "" || echo "$1"; }

train() {  # VARIANT SLOT [extra args]
  local v="$1" slot="$2"; shift 2
  rm -rf "${rundir:?}/$v"; mkdir -p "$rundir/$v"
  local t0=$EPOCHREALTIME
  # --epochs far away: the checkpoint's epoch count may be past the default; --no-val: scored afterwards instead
  # shellcheck disable=SC2086
  CUDA_VISIBLE_DEVICES=$(gpu_env "$slot") "$py" -m engine train --out "$rundir/$v" --init-weights "$start" \
    --run-steps "$steps" --epochs 100000 --no-val "${base[@]}" "${precision[@]}" \
    --deform-impl "$deform" ${flags[$v]} "$@" > "$rundir/$v/stdout.log" 2>&1
  local rc=$?
  echo "$t0 $EPOCHREALTIME" | awk '{printf "%.1f\n", $2 - $1}' > "$rundir/$v/seconds"
  return $rc
}

echo "ablation from $start: $steps steps x ${variants[*]} on $slots slot(s), deform $deform, extra: $*" | tee -a "$log"
for ((i = 0; i < ${#variants[@]}; i += slots)); do
  pids=(); batch=("${variants[@]:i:slots}")
  for j in "${!batch[@]}"; do train "${batch[j]}" "$j" "$@" & pids+=($!); done
  for j in "${!batch[@]}"; do
    if wait "${pids[j]}"; then echo "trained ${batch[j]} in $(cat "$rundir/${batch[j]}/seconds") s" | tee -a "$log"
    else echo "FAILED ${batch[j]}:" | tee -a "$log"; tail -n 20 "$rundir/${batch[j]}/stdout.log" | tee -a "$log"; fi
  done
done

# validation: `start` and every run's last.pt, dealt over the slots, one process per slot scoring its share
names=(start); files=("$start")
for v in "${variants[@]}"; do [ -f "$rundir/$v/last.pt" ] && names+=("$v") && files+=("$rundir/$v/last.pt"); done
rm -f "$rundir"/val_*.json
pids=()
for ((s = 0; s < slots && s < ${#names[@]}; s++)); do
  mine_n=(); mine_f=()
  for ((k = s; k < ${#names[@]}; k += slots)); do mine_n+=("${names[k]}"); mine_f+=("${files[k]}"); done
  # shellcheck disable=SC2086
  CUDA_VISIBLE_DEVICES=$(gpu_env "$s") "$py" -m engine validate "${mine_f[@]}" --names "$(IFS=,; echo "${mine_n[*]}")" \
    --deform-impl "$deform" --json "$rundir/val_$s.json" ${VAL_ARGS:-} > "$rundir/val_$s.log" 2>&1 &
  pids+=($!)
done
for s in "${!pids[@]}"; do
  wait "${pids[s]}" || { echo "FAILED validation on slot $s:" | tee -a "$log"; tail -n 20 "$rundir/val_$s.log" | tee -a "$log"; }
done

quoted=("${base[@]}" "${precision[@]}" "$@")
"$py" scripts/ablation_report.py collect --rundir "$rundir" --start "$start" --steps "$steps" \
  --variants "${variants[*]}" --deform-impl "$deform" --device "${ABLATE_DEVICE:-cuda}" \
  --train-args="${quoted[*]}" \
  --json "$out/ablation.json" | tee -a "$log"
