#!/usr/bin/env bash
# The web dashboard in Debian's Chromium (Playwright), against a release
# `drydock serve` on loopback:
#   render    time from navigation to a page's content showing (home,
#             repositories, runs, tasks), cold (empty browser cache) and
#             warm, 5 rounds each
#   log line  delay from a build writing a line (it prints its own clock) to
#             the line showing in the page following the run live
#   bundle    bytes of JavaScript and CSS, gzipped as served
# Prints a markdown table (median and worst). Targets: first page usable in
# under 1 s on loopback, under 100 kB of gzipped JavaScript.
#
#   bench/dashboard/run.sh [--output FILE] [--screenshots DIR]
# Needs what scripts/install-deps.sh installs and web/node_modules (the build
# runs npm ci). DRYDOCK_BIN overrides build-release/src/drydock.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN=${DRYDOCK_BIN:-$ROOT/build-release/src/drydock}
OUTPUT="" SHOTS=""
while [ $# -gt 0 ]; do
  case $1 in
    --output) OUTPUT=$2; shift 2 ;;
    --screenshots) SHOTS=$(cd "$2" && pwd); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || { echo "run.sh: no drydock binary at $BIN" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

WORK=$(mktemp -d /var/tmp/drydock-dash-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
port() { while :; do p=$((20000 + RANDOM % 12000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; }

PASS=bench-$RANDOM$RANDOM
PORT=$(port)
REG=127.0.0.1:$PORT
printf 'access_log: false\nbuilds:\n  allow_private_fetches: true\n' >"$WORK/drydock.yaml"
DRYDOCK_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/drydock.yaml" --data "$WORK/data" \
  --listen "$REG" >"$WORK/drydock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/healthz" && break; sleep 0.1; done

log "a base image, an app image and a task printing its clock once a second"
export XDG_CONFIG_HOME=$WORK/config REGISTRY_AUTH_FILE=$WORK/auth.json
mkdir -p "$WORK/base/rootfs/bin" "$WORK/www" "$WORK/ctx"
cp /bin/busybox "$WORK/base/rootfs/bin/busybox"
for t in sh sleep echo; do ln -s busybox "$WORK/base/rootfs/bin/$t"; done
# coreutils' date (busybox's has no nanoseconds), with the libraries it loads
cp /usr/bin/date "$WORK/base/rootfs/bin/gdate"  # busybox sh would run its own applet for "date"
for lib in $(ldd /usr/bin/date | grep -o '/[^ ]*'); do
  mkdir -p "$WORK/base/rootfs$(dirname "$lib")"
  cp -L "$lib" "$WORK/base/rootfs$lib"
done
printf 'FROM scratch\nCOPY rootfs/ /\n' >"$WORK/base/Dockerfile"
printf '%s' "$PASS" | "$BIN" login "$REG" -u admin --password-stdin >/dev/null
DOCKER_CONFIG=$WORK/docker
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'admin:%s' "$PASS" | base64 -w0)" >"$DOCKER_CONFIG/config.json"
DOCKER_CONFIG=$DOCKER_CONFIG DRYDOCK_BUILD_STATE=$WORK/state "$BIN" build --local -t "$REG/bench/base:1" \
  --push "$WORK/base" >"$WORK/base.log" 2>&1 || { cat "$WORK/base.log" >&2; exit 1; }
DOCKER_CONFIG=$DOCKER_CONFIG DRYDOCK_BUILD_STATE=$WORK/state "$BIN" build --local -t "$REG/bench/app:1" \
  --push "$WORK/base" >"$WORK/app.log" 2>&1 || { cat "$WORK/app.log" >&2; exit 1; }
printf 'FROM %s/bench/base:1\nRUN for i in 1 2 3 4 5; do echo "stamp $(gdate +%%s%%N)"; sleep 1; done\n' "$REG" \
  >"$WORK/ctx/Dockerfile"
tar -czf "$WORK/www/ctx.tar.gz" -C "$WORK/ctx" .
HPORT=$(port)
busybox httpd -f -p "127.0.0.1:$HPORT" -h "$WORK/www" &
PIDS+=($!)
"$BIN" task create -n stamper -c "http://127.0.0.1:$HPORT/ctx.tar.gz" -t bench/stamper:1 --no-cache >/dev/null

log "Playwright in $(chromium --version)"
(cd "$ROOT/web" && DD_URL="http://$REG" DD_PASS=$PASS DD_REPO=bench/app DD_TASK=stamper \
  DD_BENCH_OUT=$WORK/results.json DD_SCREENSHOTS=$SHOTS ./node_modules/.bin/playwright test -c playwright.bench.config.ts) \
  >"$WORK/playwright.log" 2>&1 || { cat "$WORK/playwright.log" >&2; exit 1; }

index=$(curl -sS "http://$REG/")
js=$(grep -o '/assets/[^"]*\.js' <<<"$index")
css=$(grep -o '/assets/[^"]*\.css' <<<"$index")
JS_GZ=$(curl -sS -H 'Accept-Encoding: gzip' "http://$REG$js" | wc -c)
CSS_GZ=$(curl -sS -H 'Accept-Encoding: gzip' "http://$REG$css" | wc -c)
JS_RAW=$(curl -sS "http://$REG$js" | wc -c)

{
  echo
  echo "Dashboard in Chromium $(chromium --version | awk '{print $2}'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; drydock $(git -C "$ROOT" rev-parse --short HEAD)"
  echo
  echo "| Measure | Median | Worst | Target |"
  echo "|---|---:|---:|---|"
  jq -r '
    def median: sort | .[(length / 2 | floor)];
    to_entries[] | [.key, (.value | median | round), (.value | max | round)] | @tsv' "$WORK/results.json" |
    while IFS=$'\t' read -r key med max; do
      case $key in
        log_line) echo "| Log line written → shown, ms (25 lines) | $med | $max | |" ;;
        *) echo "| First render of ${key%_*} (${key##*_}), ms | $med | $max | < 1000 |" ;;
      esac
    done
  echo "| JavaScript, gzipped (raw) | $JS_GZ B ($JS_RAW B) | | < 100 kB |"
  echo "| CSS, gzipped | $CSS_GZ B | | |"
} | tee "$WORK/results.md"
[ -z "$OUTPUT" ] || cp "$WORK/results.md" "$OUTPUT"
