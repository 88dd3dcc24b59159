#!/usr/bin/env bash
# Here, before a device run: copy what the GPU machine needs into .cache/ (ignored by git, sent with carry=[".cache"]).
# ../shared does not travel; never commit these copies. Human3.6M's joints travel packed (scripts/h36m_pack.py: 9 MB
# instead of 31), so a prebuilt mamba-ssm (.cache/gpu/mamba_ssm_built.tar.xz, scripts/mamba_prebuilt.py) fits in
# carry's 64 MiB beside the resume checkpoint; gpu_setup.sh unpacks both there.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${SASMAMBA_SHARED:-../shared}"
python=.venv/bin/python
[ -x "$python" ] || python=python3
mkdir -p .cache/gpu .cache/shared/data/h36m
chmod u+w .cache/shared/data/h36m  # earlier copies kept ../shared's read-only mode; gpu_setup.sh unpacks into it
cp "$shared"/wheels/mamba_ssm-*.tar.gz "$shared"/tools/build_mamba_ssm.sh .cache/gpu/
h36m=.cache/shared/data/h36m
cp -f "$shared"/data/h36m/cameras.json "$h36m/"
rm -f "$h36m/poses3d_17j.npz"  # the unpacked copy does not travel
stamp="$(stat -c '%s %Y' "$shared"/data/h36m/poses3d_17j.npz)"
if [ ! -f "$h36m/poses3d_17j.pack.xz" ] || [ "$(cat "$h36m/poses3d_17j.pack.stamp" 2>/dev/null)" != "$stamp" ]; then
  "$python" scripts/h36m_pack.py pack "$shared"/data/h36m/poses3d_17j.npz "$h36m/poses3d_17j.pack.xz"  # ~1 min
  echo "$stamp" > "$h36m/poses3d_17j.pack.stamp"
fi
du -sh .cache
limit=$((64 * 1024 * 1024 - 2 * 1024 * 1024))  # carry's 64 MiB, less a margin
size=$(du -sb .cache | cut -f1)
if [ "$size" -gt "$limit" ]; then
  echo "WARNING: .cache is $size bytes, over carry's 64 MiB: drop .cache/gpu/mamba_ssm_built.tar.xz (it is rebuilt there)"
  exit 1
fi
