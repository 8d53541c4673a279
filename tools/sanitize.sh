#!/usr/bin/env bash
# Builds pycodec._core with AddressSanitizer and UBSan (and pybind11's GIL assertions)
# into a scratch copy, then runs against it: the codec tests, the stream mutation fuzzer
# (tools/mutate_streams.py) and a short structure-aware .dcz fuzz (tools/fuzz/run.py).
# Usage: tools/sanitize.sh [seed]
# Environment: SANITIZE_ROUNDS (mutate_streams rounds, default 30000),
#              SANITIZE_FUZZ_RUNS (structure-aware inputs, default 300; 0 skips it),
#              SANITIZE_OUT (where fuzz findings go, default a scratch folder).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
seed=${1:-0}
work=$(mktemp -d -t pycodec-asan-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/csrc" "$repo/pycodec" "$repo/tests" "$repo/spec" "$repo/pyproject.toml" "$work/"
rm -f "$work"/pycodec/_core*.so
py_inc=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
pb_inc=$(python3 -c "import pybind11; print(pybind11.get_include())")
suffix=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
flags=(-O1 -g1 -fsanitize=address,undefined -fno-omit-frame-pointer -std=c++17 -fPIC
       -I"$py_inc" -I"$pb_inc" -I"$work/csrc")
# One compiler per source file, in parallel: the build is most of this script's time.
for source in "$work"/csrc/*.cpp; do
    g++ "${flags[@]}" -c "$source" -o "${source%.cpp}.o" &
done
for job in $(jobs -p); do wait "$job"; done
g++ -shared -fsanitize=address,undefined "$work"/csrc/*.o -o "$work/pycodec/_core$suffix"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONPATH="$work"
cd "$work"
python3 -c "import pycodec._core as c, sys; assert c.__file__.startswith('$work'), c.__file__"
python3 -m pytest -q -p no:cacheprovider tests/test_huffman.py \
    tests/test_huffman_stream.py tests/test_relative_index.py tests/test_scatter.py \
    tests/test_hardening_codec.py
# the planes coder's own thread (its jobs, drops, errors and a fork, through the writer too) and the kept worker threads
python3 -m pytest -q -p no:cacheprovider tests/test_planes.py tests/test_container_write.py -k "coder or fork or several_callers"
# read_all's native pass (read_sections): its threads, short files, corrupt sections and streams
python3 -m pytest -q -p no:cacheprovider tests/test_reader_threads.py
# the writer's native choice (choose_dense): its threads, its big-tensor pass, bad arguments
python3 -m pytest -q -p no:cacheprovider tests/test_dense_choice.py
python3 -m pytest -q -p no:cacheprovider tests/test_planes.py -k "malformed or well_formed"
python3 "$repo/tools/mutate_streams.py" "$seed" "${SANITIZE_ROUNDS:-30000}"
if [ "${SANITIZE_FUZZ_RUNS:-300}" -gt 0 ]; then
    # No RLIMIT_AS under ASan (its shadow memory is reserved address space).
    python3 "$repo/tools/fuzz/run.py" --runs "${SANITIZE_FUZZ_RUNS:-300}" --seed "$seed" \
        --out "${SANITIZE_OUT:-$work/fuzz}" --as-mb 0 --rss-mb 6144 --timeout 30
fi
