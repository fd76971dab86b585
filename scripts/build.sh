#!/usr/bin/env bash
# Configures and builds squint. Usage: scripts/build.sh [release|asan]  (default: release)
#   release -> build/       optimized with debug info
#   asan    -> build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
case "$kind" in
  release) dir="$root/build"; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir="$root/build-asan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DSQUINT_SANITIZE=ON -DCMAKE_CXX_FLAGS=-O1) ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)"
