#!/usr/bin/env bash
# Installs the runtime package of a release build into BUILD/install-check and builds examples/
# against it as a user's project would (CMake: find_package(squint), static and shared; pkg-config:
# cc with `pkg-config --cflags --libs squint-runtime`, shared and --static), then runs each program
# on a quantized bundled model and checks that it prints what `squint run` computes; examples/quantize
# (the toolkit library) must write the same .sqnt as `squint quantize`.
#   scripts/check_install.sh [BUILD]   (default build/; scripts/test.sh runs it in the CI tier)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
prefix="$build/install-check"
work="$build/examples-check"
rm -rf "$prefix" "$work"
mkdir -p "$work"

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/squint/squint_rt.h" -a -f "$prefix/include/squint/squint_rt.hpp" -a -f "$prefix/include/squint/squint_toolkit.h"
cmake -S "$root/examples" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$work/cmake" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046  # pkg-config prints several flags
cc -std=c99 -Wall -Wextra -Werror -o "$work/classify_pc_shared" "$root/examples/classify.c" \
   $(pkg-config --cflags --libs squint-runtime) -Wl,-rpath,"$prefix/lib"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -o "$work/classify_pc_static" "$root/examples/classify.c" \
   $(pkg-config --cflags squint-runtime) "$prefix/lib/libsquint_runtime.a" $(pkg-config --static --libs-only-other --libs-only-l squint-runtime | sed 's/-lsquint_runtime//')

# A model and eight validation images; the reference is `squint run` of the same file.
data="$root/tests/data/models/fashion_mnist"
"$build/cli/squint" quantize "$root/tests/data/models/cnn_small/cnn_small_op17.onnx" -o "$work/m.sqnt" \
    --calib "$data/calib_x.npy" --calib-samples 32 --val-samples 4 --accumulated-only >/dev/null 2>&1
"$root/.venv/bin/python" - "$data/val_x.npy" "$work" <<'PY'
import sys, numpy as np
x = np.load(sys.argv[1])[:8].astype("<f4")
x.tofile(f"{sys.argv[2]}/x.f32")
np.save(f"{sys.argv[2]}/x.npy", x)
PY
"$build/cli/squint" run "$work/m.sqnt" --input "$work/x.npy" -o "$work/ref" >/dev/null
"$root/.venv/bin/python" - "$work/ref/logits.npy" > "$work/want.txt" <<'PY'
import sys, numpy as np
for s, row in enumerate(np.load(sys.argv[1])):
    order = sorted(range(len(row)), key=lambda c: (-row[c], c))[:3]
    print(f"sample {s}:" + "".join(f" {c} ({float(row[c]):.6g})" for c in order))
PY
for prog in cmake/classify cmake/classify_heapless cmake/classify_cpp classify_pc_shared classify_pc_static; do
  "$work/$prog" "$work/m.sqnt" "$work/x.f32" > "$work/got.txt" 2>/dev/null
  if ! diff -u "$work/want.txt" "$work/got.txt"; then
    echo "check_install: $prog prints other classes than squint run" >&2
    exit 1
  fi
done
# The toolkit library: examples/quantize makes the very file `squint quantize` made with the same options,
# and a bad model is exit 2 with no file.
"$work/cmake/quantize" "$root/tests/data/models/cnn_small/cnn_small_op17.onnx" "$work/t.sqnt" \
    --calib "$data/calib_x.npy" --calib-samples 32 --val-samples 4 --accumulated-only >/dev/null 2>&1
cmp -s "$work/m.sqnt" "$work/t.sqnt" || { echo "check_install: the toolkit library's .sqnt differs from squint quantize's" >&2; exit 1; }
set +e
"$work/cmake/quantize" "$work/missing.onnx" "$work/u.sqnt" --calib "$data/calib_x.npy" 2>"$work/err.txt"; code=$?
set -e
[ "$code" = 2 ] && grep -q "missing.onnx" "$work/err.txt" && [ ! -e "$work/u.sqnt" ] \
  || { echo "check_install: the toolkit library does not report a missing model" >&2; exit 1; }
# Bad input is a clear error with exit 2.
set +e
"$work/cmake/classify" "$work/m.sqnt" "$work/missing.f32" 2>"$work/err.txt"; code=$?
set -e
[ "$code" = 2 ] && grep -q "missing.f32: cannot open" "$work/err.txt" || { echo "check_install: bad input not reported" >&2; exit 1; }
echo "check_install: package in $prefix; classify (static), classify_heapless (static, the C API's heapless mode), classify_cpp (shared), pkg-config shared and static print what squint run computes; quantize (toolkit) makes squint quantize's file"
