#!/usr/bin/env bash
# A fuzzing campaign for one target: builds the fuzz targets (build-fuzz),
# then runs TARGET for SECONDS from a persistent corpus that grows run after
# run, seeded from fuzz/corpus/TARGET. Prints one summary line (runs, exec/s,
# corpus size, crashes) for docs/fuzzing.md.
#
#   bench/fuzz/campaign.sh TARGET SECONDS [libFuzzer flags...]
#
# DRYDOCK_FUZZ_DIR (default /var/tmp/drydock-fuzz; not under /tmp, which the
# tar targets' sandbox replaces) holds <target>/corpus, <target>/artifacts
# and <target>/<date>.log. A crash input lands in artifacts/: minimize it
# (fuzz_TARGET -minimize_crash=1 -runs=100000 FILE), fix the bug, add a unit
# test and copy the input into fuzz/corpus/TARGET/ (see docs/fuzzing.md).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: bench/fuzz/campaign.sh TARGET SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
TARGET=$1 SECS=$2
shift 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ -d fuzz/corpus/$TARGET ]] || { echo "no target $TARGET (see fuzz/corpus/)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDRYDOCK_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target "fuzz_$TARGET" >/dev/null

dir=${DRYDOCK_FUZZ_DIR:-/var/tmp/drydock-fuzz}/$TARGET
mkdir -p "$dir/corpus" "$dir/artifacts"
log=$dir/$(date -u +%Y%m%dT%H%M%SZ).log
before=$(find "$dir/artifacts" -type f | wc -l)
rc=0
"$PWD/build-fuzz/fuzz/fuzz_$TARGET" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$@" \
  "$dir/corpus" "fuzz/corpus/$TARGET" >"$log" 2>&1 || rc=$?
after=$(find "$dir/artifacts" -type f | wc -l)
stat() { grep -oE "stat::$1: *[0-9]+" "$log" | grep -oE '[0-9]+$' || echo "?"; }
runs=$(stat number_of_executed_units)
speed=$(stat average_exec_per_sec)
cov=$(grep -oE '#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
echo "$TARGET: ${SECS}s, $runs runs, $speed exec/s, cov $cov, corpus $(ls "$dir/corpus" | wc -l)," \
  "crashes $((after - before)), exit $rc (log $log)"
exit "$rc"
