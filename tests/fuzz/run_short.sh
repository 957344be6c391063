#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan+UBSan) in build-fuzz and
# runs each for SECONDS (default 20) from its committed seed corpus. Fails
# on the first crash, leak, timeout or sanitizer report, naming the target
# and the input (kept in build-fuzz/fuzz-artifacts/).
#
#   tests/fuzz/run_short.sh [--seconds N] [TARGET...]
#
# New inputs go to build-fuzz/fuzz-work/<target>/, never into the repository.
# The tar targets need root or user namespaces (see fuzz/sandbox.h).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=20
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) SECONDS_EACH=$2; shift ;;
    -*) echo "usage: tests/fuzz/run_short.sh [--seconds N] [TARGET...]" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if [[ ${#targets[@]} -eq 0 ]]; then
  for d in fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDRYDOCK_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target fuzzers

out=$PWD/build-fuzz
mkdir -p "$out/fuzz-artifacts"
failed=()
for t in "${targets[@]}"; do
  work=$out/fuzz-work/$t
  mkdir -p "$work"
  log=$out/fuzz-artifacts/$t.log
  # -timeout: one input may take 10 s (the tar targets write files) before it
  # counts as a hang; -rss_limit_mb: the default, stated.
  if "$out/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/fuzz-artifacts/$t-" \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz $t: FAILED, see $log" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log" >&2 || tail -n 20 "$log" >&2
    failed+=("$t")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
