#!/usr/bin/env bash
# Configures and builds squint. Usage: scripts/build.sh [release|asan]  (default: release)
#   release -> build/       optimized, with line tables (-g1: backtraces name files and lines)
#   asan    -> build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, -O1 -g1
# -g1 instead of -g: full debug info costs a quarter of the compile time and the tests only need
# line tables; configure a build of your own with -g to step through code in a debugger.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
case "$kind" in
  release) dir="$root/build"; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG") ;;
  asan) dir="$root/build-asan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DSQUINT_SANITIZE=ON -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_CXX_FLAGS_DEBUG=-g1) ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)"
