# Shared by the bench/ scripts (sourced, after they parse their flags and set
# KEEP): a release build of drydock, a work dir removed on exit, a drydock
# server on a free loopback port, a busybox base image, timing helpers.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# seconds CMD...: wall time of CMD in seconds (3 decimals); fails loudly.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$WORK/last.out" 2>&1 || { tail -n 20 "$WORK/last.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# median: of the numbers on stdin (one per line or space-separated).
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

BIN=${DRYDOCK_BIN:-$BENCH_ROOT/build-release/src/drydock}
if [[ ! -x $BIN ]]; then
  cmake -S "$BENCH_ROOT" -B "$BENCH_ROOT/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$BENCH_ROOT/build-release" --target drydock >/dev/null
fi

# bench_workdir NAME: sets WORK; on exit kills PIDS, unmounts what the
# builder left under WORK and removes it (unless KEEP=1).
bench_workdir() {
  WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/drydock-bench-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  grep -o "$WORK[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"
}

# bench_serve DATA_DIR [CONFIG_YAML]: starts drydock with admin password
# $PASS; sets REG; the client and the builder get admin's credentials
# (DRYDOCK_* and a Docker config.json).
bench_serve() {
  PASS=bench-$RANDOM-$RANDOM
  printf 'access_log: false\n%s\n' "${2:-}" >"$WORK/dd.yaml"
  DRYDOCK_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/dd.yaml" --data "$1" --listen 127.0.0.1:0 \
    >"$WORK/serve.log" 2>&1 &
  PIDS+=($!)
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { cat "$WORK/serve.log" >&2; exit 1; }
  REG=127.0.0.1:$port
  export XDG_CONFIG_HOME="$WORK/config" DRYDOCK_SERVER=$REG DRYDOCK_USER=admin DRYDOCK_PASSWORD=$PASS
  export DOCKER_CONFIG="$WORK/docker"
  mkdir -p "$DOCKER_CONFIG"
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf 'admin:%s' "$PASS" | base64 -w0)" >"$DOCKER_CONFIG/config.json"
}

# bench_busybox_base REF [EXTRA]: builds a busybox image with drydock (state
# in $WORK/state) and pushes it to $REG/REF; EXTRA lands in /etc/extra, so
# different values give different digests.
bench_busybox_base() {
  local dir="$WORK/base-${2:-0}"
  mkdir -p "$dir"
  cp /bin/busybox "$dir/busybox"
  printf '%s\n' "${2:-}" >"$dir/extra"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCOPY extra /etc/extra\n' \
    >"$dir/Dockerfile"
  "$BIN" build --local --state "$WORK/state" -t "$REG/$1" --push "$dir" >/dev/null 2>"$dir.log" ||
    { cat "$dir.log" >&2; exit 1; }
}
