#!/usr/bin/env bash
# On the GPU machine: copy a run's checkpoints and logs into $OUT (each file < 16 MB) and show progress.
set -uo pipefail
cd "$(dirname "$0")/.."
name="$1"
mkdir -p "$OUT/$name"
for f in last.pt best.pt log.jsonl stdout.log; do [ -f "runs/$name/$f" ] && cp "runs/$name/$f" "$OUT/$name/"; done
# the device returns files of at most 16 MiB: say so here rather than find the file missing afterwards
for f in "$OUT/$name"/*; do
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 16777216 ] && echo "WARNING: $f is over 16 MiB and will not come back"
done
tail -n 5 "runs/$name/stdout.log" 2>/dev/null
cat "runs/$name/log.jsonl" 2>/dev/null | tail -n 3
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
