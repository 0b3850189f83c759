#!/usr/bin/env bash
# build.sh -- configure and build raysense (and, with --sanitize, the ASan/UBSan
# build in build-asan/). Usage: tools/build.sh [--sanitize]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-$(nproc)}"
if [ "${1:-}" = "--sanitize" ]; then
  dir="${RAYSENSE_ASAN_BUILD_DIR:-$REPO/build-asan}"
  cmake -S "$REPO" -B "$dir" -DRAYSENSE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
else
  dir="${RAYSENSE_BUILD_DIR:-$REPO/build}"
  cmake -S "$REPO" -B "$dir" >/dev/null
fi
cmake --build "$dir" -j "$JOBS"
