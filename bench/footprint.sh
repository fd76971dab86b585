#!/usr/bin/env bash
# The runtime's footprint (issue 17), printed as Markdown:
#  1. the runtime shared library (libsquint_runtime.so: the C API and every kernel of the target's
#     instruction sets), built runtime-only with -Os and stripped, for x86-64 and aarch64
#     (Debian's g++-aarch64-linux-gnu); beside it the -O2 build's stripped size
#  2. peak resident memory (VmHWM, /usr/bin/time) of tools/sqnt_run running each .sqnt once through
#     squint_rt_create_from_file (the file memory-mapped, weights used in place), against the
#     file size plus the arena the model plans (squint inspect), and the same for a runtime-only
#     C program that does nothing (the process's own floor: libc, libstdc++, the loader)
#  3. the heapless mode (sqnt_run --heapless): the arena squint_rt_heapless_arena_size gives (the
#     handle, tables, prepared ops, repacked weights, scratch and activations) for the reference
#     kernels and for the CPU's best set, and the peak RSS of sqnt_run --heapless --arena-size N
#     (N queried in an earlier run, as a device would embed it; the file mapped, the arena an
#     anonymous mapping) against file size plus that arena
# Usage (from the repository root, after scripts/build.sh release):
#   bench/footprint.sh MODEL.sqnt:INPUT.npy[,INPUT2.npy...] [...]   (one .npy per model input, in order)
# The -Os builds go to build-footprint-x86 and build-footprint-aarch64 (about a minute each).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,18p' "$0"; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "bench/footprint.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }

configure() {  # dir, flags, extra cmake args...
  local dir=$1 flags=$2; shift 2
  cmake -S "$root" -B "$dir" -G Ninja -DSQUINT_RUNTIME_ONLY=ON -DSQUINT_BUILD_TESTS=OFF -DSQUINT_BUILD_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=$flags -DNDEBUG" "$@" >/dev/null
  cmake --build "$dir" --target squint_runtime_shared sqnt_run -j2 >/dev/null
}
size_of() {  # stripped size of a shared library, with the given strip
  local tmp; tmp=$(mktemp)
  "$2" --strip-all -o "$tmp" "$1"
  stat -c %s "$tmp"
  rm -f "$tmp"
}

echo "| target | -Os, stripped (bytes) | -O2, stripped (bytes) |"
echo "|---|---:|---:|"
for arch in x86 aarch64; do
  args=(); strip_tool=strip
  if [ $arch = aarch64 ]; then
    args=("-DCMAKE_TOOLCHAIN_FILE=$root/cmake/aarch64-linux-gnu.cmake" -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++)
    strip_tool=aarch64-linux-gnu-strip
  fi
  configure "$root/build-footprint-$arch" -Os "${args[@]}"
  configure "$root/build-footprint-$arch-O2" -O2 "${args[@]}"
  echo "| $arch libsquint_runtime.so | $(size_of "$root/build-footprint-$arch/libsquint_runtime.so" $strip_tool) |" \
       "$(size_of "$root/build-footprint-$arch-O2/libsquint_runtime.so" $strip_tool) |"
done

run_tool="$root/build-footprint-x86/tools/sqnt_run/sqnt_run"
floor_kb=$(/usr/bin/time -f %M "$run_tool" --help 2>&1 >/dev/null | tail -1)
echo
echo "| model | file (bytes) | arena (bytes) | peak RSS (KiB) | RSS − file − arena (KiB) |" \
     "heapless arena, reference (bytes) | heapless arena, best set (bytes) | peak RSS, heapless (KiB) |" \
     "RSS − file − heapless arena (KiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for pair in "$@"; do
  model=${pair%%:*}
  IFS=, read -r -a inputs <<< "${pair#*:}"
  # A run that fails (a missing file, an input of the wrong dtype) stops here with its message,
  # not inside a command substitution below, where set -e would end the script without one.
  if ! "$run_tool" -o /dev/null "$model" "${inputs[@]}" >/dev/null; then
    echo "bench/footprint.sh: sqnt_run failed on $model with ${inputs[*]} (message above)" >&2
    exit 1
  fi
  file=$(stat -c %s "$model")
  arena=$("$root/build/cli/squint" inspect "$model" | sed -n 's/^arena: \([0-9]*\) bytes.*/\1/p')
  rss=$(/usr/bin/time -f %M "$run_tool" -o /dev/null "$model" "${inputs[@]}" 2>&1 >/dev/null | tail -1)
  arena_of() { "$run_tool" --heapless --isa "$1" -o /dev/null "$model" "${inputs[@]}" | sed -n 's/^heapless arena \([0-9]*\) bytes$/\1/p'; }
  ref=$(arena_of reference)
  best=$(arena_of auto)
  # The size as a device would embed it: no query (which runs create once on the heap) in the measured run.
  rss_heapless=$(/usr/bin/time -f %M "$run_tool" -q --heapless --arena-size "$best" -o /dev/null "$model" \
                 "${inputs[@]}" 2>&1 >/dev/null | tail -1)
  echo "| $(basename "$model") | $file | $arena | $rss | $(( rss - file / 1024 - arena / 1024 )) |" \
       "$ref | $best | $rss_heapless | $(( rss_heapless - file / 1024 - best / 1024 )) |"
  best_isa=$("$run_tool" -o /dev/null "$model" "${inputs[@]}" | sed -n 's/^isa //p')
done
echo
echo "sqnt_run --help alone (the process floor): $floor_kb KiB peak RSS; best set of this CPU: $best_isa"
