#!/usr/bin/env bash
# On the GPU machine: make mamba-ssm's CUDA scan (sm_90) importable and point the engine at the carried Human3.6M
# copy. Here, first: bash scripts/gpu_prepare.sh (fills .cache/, which `carry` sends along).
# mamba-ssm: unpacked from .cache/gpu/mamba_ssm_built.tar.xz when a session brought one back (seconds), else built
# from the sdist (2.3 minutes), after which its package is saved in parts under $OUT/mamba_built in the background
# for `python scripts/mamba_prebuilt.py join` here (scripts/mamba_prebuilt.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scan_imports() { python3 -c "from mamba_ssm.ops.selective_scan_interface import selective_scan_fn" 2>/dev/null; }
if ! scan_imports; then
  prebuilt=.cache/gpu/mamba_ssm_built.tar.xz
  if [ -f "$prebuilt" ] && python3 scripts/mamba_prebuilt.py restore "$prebuilt" && scan_imports; then
    echo "mamba-ssm CUDA scan ready (prebuilt: $prebuilt)"
  else
    [ -f "$prebuilt" ] && echo "the prebuilt mamba-ssm did not import here: building it"
    bash .cache/gpu/build_mamba_ssm.sh .cache/gpu/mamba_ssm-2.3.2.post1.tar.gz
    if [ -n "${OUT:-}" ]; then
      nohup python3 scripts/mamba_prebuilt.py save "$OUT/mamba_built" > /tmp/mamba_prebuilt.log 2>&1 &
    fi
  fi
fi
bash scripts/gpu_data.sh
