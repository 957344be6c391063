#!/usr/bin/env bash
# Overhead of a quick build on the server over running the builder directly:
# the same trivial Dockerfile, warm cache (every step CACHED), built with
#   direct   drydock build --local --state S   (in-process builder, no server)
#   server   drydock build -t ... DIR           (pack, upload, queue, worker,
#            source extraction, the same builder, push, log follow, final report)
#
#   bench/quickbuild/overhead.sh [--repeat R] [--keep]
#
# Both push the image to the server's own registry (the push is a no-op
# after the first round: every blob is there). Prints a markdown table of the
# medians and the difference (target < 200 ms). Needs root (the builder).
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPEAT=10 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --repeat) REPEAT=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/quickbuild/overhead.sh [--repeat R] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$HERE/../lib.sh"
bench_workdir overhead
bench_serve "$WORK/data"
log "base image: busybox built by drydock, pushed to $REG/base/busybox:1"
bench_busybox_base base/busybox:1
mkdir -p "$WORK/app"
printf 'FROM %s/base/busybox:1\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy.txt\nCMD ["cat", "/copy.txt"]\n' "$REG" >"$WORK/app/Dockerfile"
echo "hello" >"$WORK/app/app.txt"


log "warming both caches"
"$BIN" build --local --state "$WORK/state" -t "$REG/bench/app:direct" --push "$WORK/app" >/dev/null 2>&1
"$BIN" build -t bench/app:server "$WORK/app" >/dev/null 2>&1

DIRECT=() SERVER=()
for r in $(seq "$REPEAT"); do
  t0=$(now)
  "$BIN" build --local --state "$WORK/state" -t "$REG/bench/app:direct" --push "$WORK/app" >/dev/null 2>&1
  t1=$(now)
  "$BIN" build -t bench/app:server "$WORK/app" >/dev/null 2>&1
  t2=$(now)
  DIRECT+=("$(secs "$t0" "$t1")")
  SERVER+=("$(secs "$t1" "$t2")")
done
m() { printf '%s\n' "$@" | median; }
D=$(m "${DIRECT[@]}") S=$(m "${SERVER[@]}")
cat <<EOF

Quick-build overhead, trivial Dockerfile, warm cache ($(nproc) CPUs, median of $REPEAT)

| path | seconds |
|---|---|
| drydock build --local --push (builder in-process) | $D |
| drydock build on the server (pack, upload, queue, build, push, log) | $S |
| overhead | $(awk -v a="$D" -v b="$S" 'BEGIN { printf "%.3f", b - a }') (target < 0.200) |
EOF
