#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]   (defaults: 60 seconds per target, build-fuzz)
#
# Builds every libFuzzer target (fuzz/CMakeLists.txt, CMake target `fuzzers`) in BUILD_DIR and
# runs each one for SECONDS: libFuzzer first replays the target's committed seeds
# (fuzz/corpus/NAME) and the inputs that once crashed it (fuzz/regressions/NAME), then fuzzes.
# BUILD_DIR is configured (clang, ASan + UBSan, -DSQUINT_FUZZ=ON) only when it is not already
# configured with SQUINT_FUZZ=ON; a sanitizer build that also holds the tests works as it is
# (only the fuzz targets are built). Exits non-zero on any finding (crash, sanitizer report,
# leak, timeout, out-of-memory, broken invariant); the input that triggered it lands in
# BUILD_DIR/fuzz-artifacts/. The corpus each target grows is kept in BUILD_DIR/fuzz-corpus/NAME
# across runs. FUZZERS="npy_reader_fuzz image_decode_fuzz" runs only those; JOBS (default: the core count)
# sets build jobs and how many targets fuzz at once.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${2:-$root/build-fuzz}"
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]" >&2
  exit 2
fi

cache="$build/CMakeCache.txt"
if ! grep -q '^SQUINT_FUZZ:BOOL=ON$' "$cache" 2>/dev/null; then
  if [ -f "$cache" ] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' "$cache"; then
    echo "fuzz.sh: $build is configured with another compiler; libFuzzer needs clang: use another folder" >&2
    exit 2
  fi
  fresh=()
  [ -f "$cache" ] || fresh=(-G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
                           "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DSQUINT_BUILD_TESTS=OFF
                           -DSQUINT_BUILD_BENCH=OFF)
  cmake -S "$root" -B "$build" "${fresh[@]}" -DSQUINT_FUZZ=ON >/dev/null
fi
cmake --build "$build" --target fuzzers --parallel "${JOBS:-$(nproc)}"

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

# Generated seeds (not committed): small ONNX models from fuzz/make_seed_corpus.py, plus ONNX's
# own node-test models of at most 4 KiB when libonnx-testdata is installed.
onnx_seeds="$build/fuzz-seeds/onnx_importer"
rm -rf "$onnx_seeds"
mkdir -p "$onnx_seeds"
python="$root/.venv/bin/python"
if [ -x "$python" ] && "$python" -c "import onnx" 2>/dev/null; then
  "$python" "$root/fuzz/make_seed_corpus.py" "$onnx_seeds"
else
  echo "fuzz.sh: no .venv with onnx; skipping generated ONNX seeds" >&2
fi
node_tests=/usr/share/libonnx-testdata/data/node
if [ -d "$node_tests" ]; then
  for m in "$node_tests"/*/model.onnx; do
    if [ "$(stat -c %s "$m")" -le 4096 ]; then cp "$m" "$onnx_seeds/$(basename "$(dirname "$m")").onnx"; fi
  done
fi

# The exporter reads .sqnt files: it starts from the loader's committed seeds.
rm -rf "$build/fuzz-seeds/sqnt_export"
mkdir -p "$build/fuzz-seeds/sqnt_export"
cp "$root/fuzz/corpus/sqnt_loader/"* "$build/fuzz-seeds/sqnt_export/"

# One target per core at a time (JOBS, default nproc): each libFuzzer process is single-threaded.
fuzz_one() {
  local target=$1 name="${1%_fuzz}"
  local corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  local dirs=("$corpus")  # the first folder receives the new inputs; the others are only read
  for d in "$root/fuzz/corpus/$name" "$root/fuzz/regressions/$name" "$build/fuzz-seeds/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  local log="$build/fuzz-$name.log"
  echo "== $target: ${seconds}s on ${dirs[*]}" >&2
  "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "${dirs[@]}" >"$log" 2>&1
}
targets=(${FUZZERS:-$(cat "$build/fuzz/fuzzers.txt")})
jobs=${JOBS:-$(nproc)}
pids=()
for i in "${!targets[@]}"; do
  fuzz_one "${targets[$i]}" &
  pids[$i]=$!
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
failed=()
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  log="$build/fuzz-${target%_fuzz}.log"
  if wait "${pids[$i]}"; then
    echo "-- $target: $(grep -E '^stat::number_of_executed_units' "$log" | tr -d ' ') $(grep -E '^#[0-9]+' "$log" | tail -1 | cut -c1-80)" >&2
  else
    tail -40 "$log" >&2
    echo "fuzz.sh: $target failed: a finding (input in $artifacts/) or an error; log $log" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no findings" >&2
