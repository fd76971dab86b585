#!/usr/bin/env bash
# The test suite, from a fresh machine: installs what is missing, builds, runs the tests in a normal
# build and in an AddressSanitizer + UndefinedBehaviorSanitizer build, then fuzzes every parser.
#
#   scripts/test.sh          the CI tier (what .ci/run runs; budget 20 minutes on the project's 2-core
#                            machine, set-up included): every module, kernel, subcommand and error path;
#                            accuracy targets on fixed validation subsets; the aarch64 runtime
#                            cross-built and tested under qemu; 5 s of fuzzing per target (after replaying its corpus)
#   scripts/test.sh --full   everything: also the slow tier (CTest label "full", pytest marker "full":
#                            whole validation splits, huge generated graphs), the benchmarks' smoke
#                            runs and 10 minutes of fuzzing per target. Run it before resolving an issue
#                            that touches quantization or kernels.
# Each step prints its wall-clock time; SQUINT_FUZZ_SECONDS overrides the fuzzing time per target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
full=0
case "${1:-}" in
  "") ;;
  --full) full=1 ;;
  -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
esac
if [ $full = 1 ]; then tier=(); fuzz_seconds=${SQUINT_FUZZ_SECONDS:-600}; else tier=(-LE full); fuzz_seconds=${SQUINT_FUZZ_SECONDS:-5}; fi

start=$(date +%s)
step() { echo "== $1 (at $(( $(date +%s) - start )) s)"; }

step "set-up"
"$root/scripts/setup.sh"

step "release build"
if [ $full = 1 ]; then "$root/scripts/build.sh" release --bench; else "$root/scripts/build.sh" release; fi
step "release tests"
(cd "$root/build" && ctest --output-on-failure -j2 "${tier[@]}")

# The runtime alone cross-built for aarch64 (build-aarch64): its tests (tests/runtime, with the
# kernel testers for neon and neondot) under qemu-aarch64 -cpu max, then bundled models quantized by
# the x86-64 build above, run on every aarch64 path and compared byte for byte with the x86-64
# reference codes (scripts/aarch64_models.sh).
step "aarch64 cross-build and tests under qemu"
"$root/scripts/build.sh" aarch64
(cd "$root/build-aarch64" && ctest --output-on-failure -j2 "${tier[@]}")
"$root/scripts/aarch64_models.sh" "$root/build" "$root/build-aarch64"

step "AddressSanitizer + UndefinedBehaviorSanitizer build (clang, also the fuzz targets)"
"$root/scripts/build.sh" asan
step "AddressSanitizer + UndefinedBehaviorSanitizer tests"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j2 -LE full)

step "fuzzing every parser (${fuzz_seconds} s per target after replaying its corpus)"
"$root/scripts/fuzz.sh" "$fuzz_seconds" "$root/build-asan"

if [ $full = 1 ]; then
  step "benchmarks (smoke runs)"
  "$root/scripts/bench_smoke.sh" "$root/build"
fi
step "done: all tests passed"
