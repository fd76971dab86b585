#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
# Configures a clang libFuzzer build (ASan + UBSan) in build-fuzz, builds the ONNX importer
# fuzzer and runs it for SECONDS on a seed corpus (fuzz/make_seed_corpus.py, plus ONNX's small
# node-test models when libonnx-testdata is installed). Exits non-zero on any finding; crash
# inputs land in build-fuzz/fuzz-artifacts/. The corpus in build-fuzz/fuzz-corpus grows across runs.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DSQUINT_FUZZ=ON -DSQUINT_BUILD_TESTS=OFF -DSQUINT_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" -j"${JOBS:-2}" onnx_importer_fuzz

seeds="$build/fuzz-seeds/onnx_importer"
corpus="$build/fuzz-corpus/onnx_importer"
artifacts="$build/fuzz-artifacts"
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus" "$artifacts"
python="$root/.venv/bin/python"
if [ -x "$python" ] && "$python" -c "import onnx" 2>/dev/null; then
  "$python" "$root/fuzz/make_seed_corpus.py" "$seeds"
else
  echo "fuzz.sh: no .venv with onnx; skipping generated seeds" >&2
fi
cp "$root"/fuzz/regressions/* "$seeds"/ 2>/dev/null || true  # inputs that once crashed
node_tests=/usr/share/libonnx-testdata/data/node
if [ -d "$node_tests" ]; then
  for m in "$node_tests"/*/model.onnx; do
    if [ "$(stat -c %s "$m")" -le 4096 ]; then cp "$m" "$seeds/$(basename "$(dirname "$m")").onnx"; fi
  done
fi

"$build/fuzz/onnx_importer_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$seeds"

# The .sqnt loader fuzzer (runtime: load → prepare → invoke); seeds in fuzz/corpus/sqnt_loader
# (rewrite them with SQUINT_WRITE_FUZZ_SEEDS=fuzz/corpus/sqnt_loader runtime_c_api_test and runtime_lowbit_test).
ninja -C "$build" -j"${JOBS:-2}" sqnt_loader_fuzz
mkdir -p "$build/fuzz-corpus/sqnt_loader"
"$build/fuzz/sqnt_loader_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$build/fuzz-corpus/sqnt_loader" "$root/fuzz/corpus/sqnt_loader"
