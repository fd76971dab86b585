#!/usr/bin/env bash
# Configures and builds squint. Usage: scripts/build.sh [release|asan|aarch64] [--bench]  (default: release)
#   release -> build/       GCC, optimized, with line tables (-g1: backtraces name files and lines);
#                           --bench also builds the benchmarks (bench/; scripts/test.sh --full does)
#   asan    -> build-asan/  clang, AddressSanitizer + UndefinedBehaviorSanitizer, -O1 -g1, with libFuzzer's
#                           coverage instrumentation: one build runs the tests under the sanitizers and
#                           links the fuzz targets (fuzz/, scripts/fuzz.sh)
#   aarch64 -> build-aarch64/  the runtime alone (SQUINT_RUNTIME_ONLY), cross-built with Debian's
#                           g++-aarch64-linux-gnu (cmake/aarch64-linux-gnu.cmake), -O2 without debug
#                           info (a tenth less compile time in CI): the runtime library, its tests (tests/runtime,
#                           GoogleTest built from /usr/src/googletest) and tools/sqnt_run; the tests
#                           run under qemu-aarch64 (ctest in build-aarch64, scripts/test.sh)
# release and asan are unity builds (CMAKE_UNITY_BUILD: batches of 8 files compiled as one, so the
# headers they share are parsed once) except the runtime library and the passes (their CMakeLists say why);
# test executables are unity builds in every configuration (cmake/SquintTest.cmake).
# -g1 instead of -g: full debug info costs a quarter of the compile time and the tests only need
# line tables; configure a build of your own with -g to step through code in a debugger.
# ccache, when installed (scripts/setup.sh installs it), keeps each build's cache in BUILD/ccache,
# so a rebuild after a clean or a branch switch recompiles only what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
bench=OFF
[ "${2:-}" = "--bench" ] && bench=ON
case "$kind" in
  release) dir="$root/build"
           flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
                  -DCMAKE_CXX_COMPILER=g++ -DSQUINT_BUILD_BENCH=$bench -DCMAKE_UNITY_BUILD=ON) ;;
  asan) dir="$root/build-asan"
        flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DSQUINT_SANITIZE=ON -DSQUINT_FUZZ=ON
               -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DSQUINT_BUILD_BENCH=OFF -DCMAKE_UNITY_BUILD=ON) ;;
  aarch64) dir="$root/build-aarch64"
           flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG"
                  "-DCMAKE_TOOLCHAIN_FILE=$root/cmake/aarch64-linux-gnu.cmake"
                  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DSQUINT_RUNTIME_ONLY=ON -DSQUINT_BUILD_BENCH=OFF) ;;
  *) echo "usage: scripts/build.sh [release|asan|aarch64] [--bench]" >&2; exit 2 ;;
esac
if command -v ccache >/dev/null; then
  flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_DIR="$dir/ccache" CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi
# A build folder configured with another compiler cannot switch in place: start it anew.
want=$(printf '%s\n' "${flags[@]}" | sed -n 's/^-DCMAKE_CXX_COMPILER=//p')
if [ -f "$dir/CMakeCache.txt" ]; then
  have=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
  case "$have" in
    "$want" | */"$want") ;;
    *) echo "build.sh: $dir was configured with $have; configuring it anew with $want" >&2
       rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles" ;;
  esac
fi
cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)"
