#!/usr/bin/env bash
# Here, before a device run: copy what the GPU machine needs into .cache/ (ignored by git, sent with carry=[".cache"]).
# ../shared does not travel; never commit these copies.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${SASMAMBA_SHARED:-../shared}"
mkdir -p .cache/gpu .cache/shared/data
cp "$shared"/wheels/mamba_ssm-*.tar.gz "$shared"/tools/build_mamba_ssm.sh .cache/gpu/
rm -rf .cache/shared/data/h36m && cp -r "$shared"/data/h36m .cache/shared/data/
du -sh .cache
