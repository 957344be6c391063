#!/usr/bin/env bash
# Installs dependencies, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole test suite with CTest, then
# a short run of every fuzz target (tests/fuzz/run_short.sh: about 4 minutes;
# DRYDOCK_FUZZ_SECONDS sets the seconds per target, 0 skips them).
# Extra arguments go to ctest (e.g. -R integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDRYDOCK_SANITIZE=ON >/dev/null
cmake --build build-asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
(cd build-asan && ctest --output-on-failure -j2 "$@")
if [ "${DRYDOCK_FUZZ_SECONDS:-20}" != 0 ]; then
  bash tests/fuzz/run_short.sh --seconds "${DRYDOCK_FUZZ_SECONDS:-20}"
fi
