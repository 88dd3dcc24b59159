#!/usr/bin/env bash
# Start training on a fresh machine if nothing is running: build mamba-ssm, then train until 16:54 UTC.
name="$1"
export PYTHONPATH=$PWD SASMAMBA_SHARED=$PWD/.cache/shared
if ! pgrep -f "engine train" >/dev/null && [ ! -f "runs/$name/last.pt" ]; then
  bash scripts/gpu_setup.sh 2>&1 | tail -2
  mins=$(( ($(date -u -d "16:54" +%s) - $(date -u +%s)) / 60 ))
  [ "$mins" -lt 1 ] && mins=1
  bash scripts/gpu_train.sh "$name" "$mins" --config sasmamba-s --lr 7e-4 --lr-decay 0.98 --batch 16
fi
