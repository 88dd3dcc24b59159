#!/usr/bin/env bash
# On the GPU machine: the carried Human3.6M joints unpacked where SASMAMBA_SHARED=$PWD/.cache/shared finds them
# (scripts/h36m_pack.py; a second of work). Every call's `carry` replaces .cache and with it the unpacked copy, so
# each call that reads the data runs this first (gpu_setup.sh and gpu_final.sh do).
set -euo pipefail
cd "$(dirname "$0")/.."
h36m=.cache/shared/data/h36m
if [ ! -f "$h36m/poses3d_17j.npz" ] && [ -f "$h36m/poses3d_17j.pack.xz" ]; then
  chmod u+w "$h36m"
  python3 scripts/h36m_pack.py unpack "$h36m/poses3d_17j.pack.xz" "$h36m/poses3d_17j.npz"
fi
test -f "$h36m/poses3d_17j.npz" || { echo "missing $h36m (run gpu_prepare.sh here and carry .cache)"; exit 1; }
