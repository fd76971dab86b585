#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, and runs
# every test in a normal build and in an AddressSanitizer + UndefinedBehaviorSanitizer
# build, then the importer fuzzer for a short fixed time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"

echo "== release build"
"$root/scripts/build.sh" release
(cd "$root/build" && ctest --output-on-failure -j2)

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
"$root/scripts/build.sh" asan
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j2)

if [ -x "$root/scripts/fuzz.sh" ]; then
  echo "== fuzzing the importers (short fixed time)"
  "$root/scripts/fuzz.sh" "${SQUINT_FUZZ_SECONDS:-60}"
fi
echo "all tests passed"
