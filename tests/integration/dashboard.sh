#!/usr/bin/env bash
# The web dashboard (issue 15) end to end: a real `drydock serve` with a
# skopeo-pushed image and a task building on a base image, driven by
# Playwright in Debian's Chromium (web/tests/dashboard.spec.ts): sign-in and
# sign-out, repositories, a run's log arriving live, cancel, a base push
# queuing the dependent with its cause, XSS probes, CSRF, axe-core.
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || fail "chromium is not installed (scripts/install-deps.sh)"
command -v skopeo >/dev/null || fail "skopeo is not installed (scripts/install-deps.sh)"
WEB="$REPO_ROOT/web"
[ -x "$WEB/node_modules/.bin/playwright" ] || fail "web/node_modules is missing: the build runs npm ci there"

log "server, page and API on one port"
printf 'builds:\n  allow_private_fetches: true\nauth:\n  anonymous_pull: ["dash/app"]\n' >"$WORK/server.yaml"
DATA="$WORK/data"
VIEWER_PASS="viewer-$RANDOM-pw"
"$DRYDOCK_BIN" user add viewer --data "$DATA" -p "$VIEWER_PASS" --grant 'dash/*=pull' >"$WORK/useradd.out" 2>&1 ||
  { cat "$WORK/useradd.out" >&2; fail "drydock user add viewer"; }
start_server --config "$WORK/server.yaml"
client_login
code=$(curl -sS -o "$WORK/index.html" -w '%{http_code}' "$URL/runs/ca1")
assert_eq 200 "$code" "a page URL loads the dashboard"
assert_contains "$(cat "$WORK/index.html")" '<div id="app">' "index.html"
script=$(grep -o '/assets/main-[A-Za-z0-9]*\.js' "$WORK/index.html")
assert_contains "$(curl -sS -D - -o /dev/null --compressed "$URL$script" | tr -d '\r')" \
  "Cache-Control: public, max-age=31536000, immutable" "the hashed bundle is cached for good"
gz=$(curl -sS -H 'Accept-Encoding: gzip' "$URL$script" | wc -c)
[ "$gz" -lt 102400 ] || fail "the bundle is $gz bytes gzipped, over the 100 kB budget"
ok "bundle: $gz bytes gzipped"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$URL/nowhere")" "other paths stay 404"

log "an image, a base and a task building on it with a slow, noisy RUN"
make_busybox_layout "$WORK/img" v1 "dashboard image" >/dev/null
push_layout "$WORK/img" v1 dash/app:v1
push_base base/os:1 one
serve_www
# task NAME IMAGE RUN_COMMAND [create flags...]: a task building FROM
# base/os:1 with that RUN, its context served as $WWW_URL/NAME.tar.gz.
task() {
  local name=$1 image=$2 run=$3
  shift 3
  mkdir -p "$WORK/ctx-$name"
  printf 'FROM %s/base/os:1\nRUN %s\n' "$REG" "$run" >"$WORK/ctx-$name/Dockerfile"
  tar -czf "$WORK/www/$name.tar.gz" -C "$WORK/ctx-$name" .
  drydock task create -n "$name" -c "$WWW_URL/$name.tar.gz" -t "$image" "$@" >"$WORK/task-$name.out" 2>&1 ||
    { cat "$WORK/task-$name.out" >&2; fail "task create $name"; }
}
# Lines a second apart with an XSS probe; its image is rebuilt when the base moves.
task ticker dash/ticker:1 'for i in 1 2 3 4 5; do echo "tick-$i"; sleep 1; done; echo '"'"'<img src=x onerror=alert(1)>'"'"
# A slow build, never cached, for the cancel test.
task sleeper dash/sleeper:1 'echo tick-1; sleep 120' --no-cache --base-image-trigger-enabled false
# Six numbered lines a second apart, never cached: the reconnection test.
task counter dash/counter:1 'for i in 1 2 3 4 5 6; do echo "count-$i"; sleep 1; done' --no-cache \
  --base-image-trigger-enabled false
# 400 lines at once, then eight a second apart: the auto-scroll test.
task scroller dash/scroller:1 'i=1; while [ $i -le 400 ]; do echo "row-$i"; i=$((i+1)); done; for i in 1 2 3 4 5 6 7 8; do echo "more-$i"; sleep 1; done' \
  --no-cache --base-image-trigger-enabled false
# The spec pushes a new base through this script.
cat >"$WORK/push-base.sh" <<EOT
set -e
skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false "oci:$WORK/base2:1" "docker://$REG/base/os:1"
EOT
make_busybox_layout "$WORK/base2" 1 "two" >/dev/null

log "Playwright (Chromium $(chromium --version 2>/dev/null | awk '{print $2}'))"
(cd "$WEB" && DD_URL="$URL" DD_PASS="$ADMIN_PASS" DD_REPO=dash/app DD_TASK=ticker DD_BUILT=dash/ticker DD_SLOW_TASK=sleeper DD_COUNT_TASK=counter DD_BASE=base/os:1 \
  DD_SCROLL_TASK=scroller DD_VIEWER_PASS="$VIEWER_PASS" \
  DD_PUSH_BASE="$WORK/push-base.sh" ./node_modules/.bin/playwright test 2>&1) | tee "$WORK/playwright.out" ||
  fail "Playwright"
ok "$(grep -E '[0-9]+ passed' "$WORK/playwright.out" | tr -s ' ')"
