#!/usr/bin/env bash
# On the GPU machine: copy runs' checkpoints and logs into $OUT/NAME/ and show progress.
# Usage: bash scripts/gpu_collect.sh NAME [NAME ...]   (two runs of an A/B: 8 files, the most a call brings back)
# Env: FILES (default "last.pt best.pt log.jsonl stdout.log") picks what is copied.
set -uo pipefail
cd "$(dirname "$0")/.."
for name in "$@"; do
  mkdir -p "$OUT/$name"
  for f in ${FILES:-last.pt best.pt log.jsonl stdout.log}; do
    [ -f "runs/$name/$f" ] && cp "runs/$name/$f" "$OUT/$name/"
  done
  tail -n 5 "runs/$name/stdout.log" 2>/dev/null
  cat "runs/$name/log.jsonl" 2>/dev/null | tail -n 3
done
# the device returns at most 8 files, 16 MiB each, 64 MiB in all: say so here rather than find files missing later
find "$OUT" -type f -size +16777216c -printf "WARNING: %p is over 16 MiB and will not come back\n"
n=$(find "$OUT" -type f | wc -l)
[ "$n" -gt 8 ] && echo "WARNING: $n files under \$OUT, only 8 come back"
total=$(du -sb "$OUT" | cut -f1)
[ "$total" -gt 67108864 ] && echo "WARNING: $total bytes under \$OUT, over the 64 MiB that come back"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
