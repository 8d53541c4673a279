#!/usr/bin/env bash
# Builds pycodec._core with AddressSanitizer and UBSan (and pybind11's GIL assertions)
# into a scratch copy, then runs the codec tests and the mutation fuzzer against it.
# Usage: tools/sanitize.sh [seed]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d -t pycodec-asan-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/csrc" "$repo/pycodec" "$repo/tests" "$repo/pyproject.toml" "$work/"
rm -f "$work"/pycodec/_core*.so
py_inc=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
pb_inc=$(python3 -c "import pybind11; print(pybind11.get_include())")
suffix=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
g++ -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -std=c++17 -shared -fPIC \
    -I"$py_inc" -I"$pb_inc" -I"$work/csrc" "$work"/csrc/*.cpp -o "$work/pycodec/_core$suffix"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1
cd "$work"
PYTHONPATH="$work" python3 -m pytest -q -p no:cacheprovider tests/test_huffman.py \
    tests/test_huffman_stream.py tests/test_relative_index.py tests/test_scatter.py
PYTHONPATH="$work" python3 "$repo/tools/mutate_streams.py" "${1:-0}"
