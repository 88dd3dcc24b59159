#!/usr/bin/env bash
# On the GPU machine: build mamba-ssm's CUDA scan (sm_90) unless it already imports, and point the engine at the
# carried Human3.6M copy. Here, first: bash scripts/gpu_prepare.sh (fills .cache/, which `carry` sends along).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "from mamba_ssm.ops.selective_scan_interface import selective_scan_fn" 2>/dev/null; then
  bash .cache/gpu/build_mamba_ssm.sh .cache/gpu/mamba_ssm-2.3.2.post1.tar.gz
fi
test -f .cache/shared/data/h36m/poses3d_17j.npz || { echo "missing .cache/shared/data/h36m (run gpu_prepare.sh here and carry .cache)"; exit 1; }
