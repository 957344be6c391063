#!/usr/bin/env bash
# Drydock's builder vs. buildah (Debian's, `bud --isolation chroot --layers`)
# on the same Dockerfiles in the same run:
#
#   bench/build/run.sh [--quick] [--keep]
#
#   cold        first build, empty caches (base image already pulled by neither)
#   nochange    rebuild with nothing changed
#   onefile     rebuild after changing one copied source file
#   multistage  cold build of two independent stages plus a final stage
#
# Prints a markdown table with both times, their ratio and the targets
# (cold <= 0.8x, no-change <= 0.1x, one-file <= 0.5x). Each scenario runs
# REPEAT times (default 3, --quick 1) and reports the median.
#
# A drydock registry on 127.0.0.1 serves the base image (busybox, itself
# built by drydock from Debian's busybox-static) to both builders; neither
# pushes. Needs root and what scripts/install-deps.sh installs. Everything it
# starts and its temporary directory (BENCH_TMPDIR, default /var/tmp) are
# removed on exit.
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=full KEEP=0
for a in "$@"; do
  case $a in
    --quick) MODE=quick ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/build/run.sh [--quick] [--keep]" >&2; exit 2 ;;
  esac
done
if [[ $MODE == full ]]; then : "${REPEAT:=3}" "${FILES:=3000}" "${RUN_FILES:=3000}"; else : "${REPEAT:=1}" "${FILES:=500}" "${RUN_FILES:=500}"; fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

BIN=${DRYDOCK_BIN:-$ROOT/build-release/src/drydock}
if [[ ! -x $BIN ]]; then
  cmake -S "$ROOT" -B "$ROOT/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$ROOT/build-release" --target drydock >/dev/null
fi
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/drydock-bench-build.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  grep -o "$WORK[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  [[ $KEEP == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

PASS=bench-$RANDOM-$RANDOM
printf 'auth: {anonymous_pull: ["*"]}\naccess_log: false\n' >"$WORK/dd.yaml"
DRYDOCK_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/dd.yaml" --data "$WORK/registry" --listen 127.0.0.1:0 \
  >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
  [[ -n $PORT ]] && break
  sleep 0.05
done
REG=127.0.0.1:$PORT
export DOCKER_CONFIG=$WORK/docker
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'admin:%s' "$PASS" | base64 -w0)" >"$DOCKER_CONFIG/config.json"

log "base image: busybox built by drydock, pushed to $REG/base/busybox:1"
mkdir -p "$WORK/base"
cp /bin/busybox "$WORK/base/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$WORK/base/Dockerfile"
"$BIN" build --local --state "$WORK/seed-state" -t "$REG/base/busybox:1" --push "$WORK/base" >/dev/null 2>"$WORK/base.log"

# The application: many small source files, one that changes, and a RUN that writes files.
make_app() {
  local dir=$1
  mkdir -p "$dir/src"
  for i in $(seq 1 "$FILES"); do echo "source file $i" >"$dir/src/f$i.txt"; done
  head -c $((8 << 20)) /dev/urandom >"$dir/src/blob.bin"
  echo "version 1" >"$dir/app.txt"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1
WORKDIR /app
COPY src/ ./src/
RUN for i in \$(seq 1 $RUN_FILES); do echo \$i > /app/gen-\$i; done
COPY app.txt ./
CMD ["cat", "/app/app.txt"]
DOCKERFILE
}
make_multi() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1 AS a
RUN for i in \$(seq 1 $RUN_FILES); do echo a\$i > /a-\$i; done
FROM $REG/base/busybox:1 AS b
RUN for i in \$(seq 1 $RUN_FILES); do echo b\$i > /b-\$i; done
FROM $REG/base/busybox:1
COPY --from=a /a-1 /a-1
COPY --from=b /b-1 /b-1
DOCKERFILE
}

# seconds CMD...: wall time of CMD in seconds (3 decimals); fails loudly.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$WORK/last.out" 2>&1 || { tail -n 20 "$WORK/last.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

drydock_build() { "$BIN" build --local --state "$STATE" "$1"; }
buildah_build() {
  buildah --root "$STATE/root" --runroot "$STATE/run" --storage-driver overlay bud --isolation chroot --layers \
    --tls-verify=false --format oci -t bench:latest "$1"
}

# scenario TOOL: prints "cold nochange onefile multistage" seconds for one repetition.
scenario() {
  local tool=$1 rep=$2
  STATE="$WORK/$tool-state-$rep"
  local app="$WORK/$tool-app-$rep" multi="$WORK/$tool-multi-$rep"
  make_app "$app"
  make_multi "$multi"
  local cold nochange onefile ms
  cold=$(seconds "${tool}_build" "$app")
  nochange=$(seconds "${tool}_build" "$app")
  echo "version 2" >"$app/app.txt"
  onefile=$(seconds "${tool}_build" "$app")
  STATE="$WORK/$tool-mstate-$rep"
  ms=$(seconds "${tool}_build" "$multi")
  echo "$cold $nochange $onefile $ms"
}

declare -A RESULTS
for rep in $(seq 1 "$REPEAT"); do
  for tool in drydock buildah; do
    log "repetition $rep: $tool"
    read -r c n o m < <(scenario "$tool" "$rep")
    RESULTS[$tool.cold]+="$c " RESULTS[$tool.nochange]+="$n " RESULTS[$tool.onefile]+="$o " RESULTS[$tool.multistage]+="$m "
  done
done

echo
echo "Builder benchmark ($MODE: $FILES source files + 8 MiB, RUN writes $RUN_FILES files; median of $REPEAT)"
echo
echo "| scenario | drydock (s) | buildah (s) | ratio | target |"
echo "|---|---:|---:|---:|---|"
for s in cold nochange onefile multistage; do
  d=$(median <<<"${RESULTS[drydock.$s]}")
  b=$(median <<<"${RESULTS[buildah.$s]}")
  case $s in cold) t="<= 0.8x" ;; nochange) t="<= 0.1x" ;; onefile) t="<= 0.5x" ;; *) t="(report)" ;; esac
  awk -v s="$s" -v d="$d" -v b="$b" -v t="$t" 'BEGIN { printf "| %s | %.2f | %.2f | %.2fx | %s |\n", s, d, b, d / b, t }'
done
