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
ROOT=$(cd "$HERE/../.." && pwd)
REPEAT=10 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --repeat) REPEAT=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/quickbuild/overhead.sh [--repeat R] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

BIN=${DRYDOCK_BIN:-$ROOT/build-release/src/drydock}
if [[ ! -x $BIN ]]; then
  cmake -S "$ROOT" -B "$ROOT/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$ROOT/build-release" --target drydock >/dev/null
fi
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/drydock-bench-overhead.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ $KEEP == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

PASS=bench-$RANDOM-$RANDOM
printf 'access_log: false\n' >"$WORK/dd.yaml"
DRYDOCK_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/dd.yaml" --data "$WORK/data" --listen 127.0.0.1:0 \
  >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
PORT=""
for _ in $(seq 200); do
  PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
  [[ -n $PORT ]] && break
  sleep 0.05
done
[[ -n $PORT ]] || { cat "$WORK/serve.log" >&2; exit 1; }
REG=127.0.0.1:$PORT
export XDG_CONFIG_HOME="$WORK/config" DRYDOCK_SERVER=$REG DRYDOCK_USER=admin DRYDOCK_PASSWORD=$PASS
export DOCKER_CONFIG="$WORK/docker"
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf 'admin:%s' "$PASS" | base64 -w0)" >"$DOCKER_CONFIG/config.json"

log "base image: busybox built by drydock, pushed to $REG/base/busybox:1"
mkdir -p "$WORK/base" "$WORK/app"
cp /bin/busybox "$WORK/base/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$WORK/base/Dockerfile"
"$BIN" build --local --state "$WORK/state" -t "$REG/base/busybox:1" --push "$WORK/base" >/dev/null 2>"$WORK/base.log"
printf 'FROM %s/base/busybox:1\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy.txt\nCMD ["cat", "/copy.txt"]\n' "$REG" >"$WORK/app/Dockerfile"
echo "hello" >"$WORK/app/app.txt"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

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
