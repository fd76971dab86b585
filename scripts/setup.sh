#!/usr/bin/env bash
# Installs what squint needs on a fresh Debian 12 machine, idempotently:
# Debian packages (only those missing) and the Python virtual environment in .venv.
# Usage: scripts/setup.sh [--bench]
#   --bench  also the libraries the benchmarks compare squint with (bench/libs_bench.cc: oneDNN,
#            XNNPACK); benchmark anchors only, never linked into the runtime; the CI tier does not need them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=0
case "${1:-}" in
  "") ;;
  --bench) bench=1 ;;
  *) echo "usage: scripts/setup.sh [--bench]" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build ccache clang libclang-rt-dev
  g++-aarch64-linux-gnu qemu-user
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev
  libflatbuffers-dev flatbuffers-compiler libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libzstd-dev zlib1g-dev libssl-dev libpng-dev libjpeg62-turbo-dev
  python3-venv python3-dev pybind11-dev python3-torch python3-numpy python3-pil libopenblas0-pthread
  dataset-fashion-mnist libonnx-testdata
  chromium fonts-dejavu-core   # the HTML report's browser test (tests/python/test_report_browser.py)
)
[ "$bench" = 1 ] && packages+=(libdnnl-dev libxnnpack-dev libpthreadpool-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv sees Debian's site packages (python3-torch for training test models);
# onnx, onnxruntime and numpy come pinned from PyPI (tools/requirements.txt).
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$root/tools/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: preparing Python environment in .venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/tools/requirements.txt"
  echo "$want" > "$stamp"
fi
