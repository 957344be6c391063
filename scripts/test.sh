#!/usr/bin/env bash
# Installs dependencies, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole test suite with CTest.
# Extra arguments go to ctest (e.g. -R integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDRYDOCK_SANITIZE=ON >/dev/null
cmake --build build-asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-asan
ctest --output-on-failure -j2 "$@"
