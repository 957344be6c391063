#!/usr/bin/env bash
# Observability (issue 19). Metrics: after a known sequence of requests and
# runs on a fresh server, /metrics has exactly the counts it should (HTTP
# requests by route in the duration histogram, runs queued/started/finished
# by type, trigger and status, wait and duration histograms, the queue depth
# and oldest wait of a pool no agent serves), and Prometheus's own checker
# (promtool check metrics) accepts the whole exposition. Request ids: the
# response, the access log and the server's log lines share one (the
# client's when usable). The log level changes at runtime (admin endpoint,
# SIGHUP).
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || fail "promtool is not installed (Debian's prometheus; scripts/install-deps.sh)"
start_server
client_login
use_build_env
push_base base/busybox:1 v1

scrape() { curl -sS "$URL/metrics" >"$WORK/metrics.txt" || fail "GET /metrics"; }
# value 'NAME{labels}': from the last scrape (0 when absent).
value() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$WORK/metrics.txt"; }

log "HTTP: three GET /v2/ more in the duration histogram of route base, 2xx"
scrape
BEFORE=$(value 'drydock_http_request_duration_seconds_count{code="2xx",route="base"}')
for _ in 1 2 3; do req GET /v2/ "${ADMIN[@]}"; done
req GET /v2/
assert_status 401 "$STATUS" "GET /v2/ without credentials"
scrape
assert_eq "$((BEFORE + 3))" "$(value 'drydock_http_request_duration_seconds_count{code="2xx",route="base"}')" \
  "route base, 2xx: exactly three more"
assert_ne 0 "$(value 'drydock_http_request_duration_seconds_count{code="4xx",route="base"}')" "and the 401 under 4xx"
assert_eq "$(value 'drydock_http_request_duration_seconds_count{code="2xx",route="base"}')" \
  "$(value 'drydock_http_request_duration_seconds_bucket{code="2xx",route="base",le="+Inf"}')" \
  "the +Inf bucket holds every observation"
assert_eq 1 "$(value 'drydock_http_requests_in_flight')" "one request in flight: the scrape itself"
[ "$(value drydock_http_open_connections)" -ge 1 ] || fail "open connections: $(value drydock_http_open_connections)"
ok "open connections: $(value drydock_http_open_connections)"

log "runs: one build succeeds, one fails, one waits in a pool no agent serves and is canceled"
mkdir -p "$WORK/ctx/ok" "$WORK/ctx/bad"
dockerfile "$WORK/ctx/ok/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN echo ok >/ok
EOF
dockerfile "$WORK/ctx/bad/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN exit 7
EOF
drydock build "$WORK/ctx/ok" -t metrics/ok:1 >"$WORK/ok.out" 2>&1 || { tail -n 20 "$WORK/ok.out" >&2; fail "the good build"; }
drydock build "$WORK/ctx/bad" -t metrics/bad:1 >"$WORK/bad.out" 2>&1 && fail "the bad build succeeded"
drydock build "$WORK/ctx/ok" -t metrics/gpu:1 --agent-pool gpu --no-wait >"$WORK/gpu.out" 2>&1 ||
  { cat "$WORK/gpu.out" >&2; fail "queueing a run for pool gpu"; }
GPU=$(drydock run list --top 1 -o json | jq -r '.[0].runId')
sleep 1.2
scrape
assert_eq 3 "$(value 'drydock_runs_queued_total{trigger="Manual",type="QuickBuild"}')" "three runs queued"
assert_eq 2 "$(value 'drydock_runs_started_total{type="QuickBuild"}')" "two started"
assert_eq 1 "$(value 'drydock_runs_finished_total{status="Succeeded",type="QuickBuild"}')" "one succeeded"
assert_eq 1 "$(value 'drydock_runs_finished_total{status="Failed",type="QuickBuild"}')" "one failed"
assert_eq 2 "$(value 'drydock_run_wait_seconds_count{type="QuickBuild"}')" "two waits observed"
assert_eq 2 "$(value 'drydock_run_duration_seconds_count{type="QuickBuild"}')" "two durations observed"
assert_eq 1 "$(value 'drydock_runs_queue_depth{pool="gpu"}')" "pool gpu: one run queued"
assert_eq 0 "$(value 'drydock_runs_queue_depth{pool="default"}')" "the default pool: none"
awk '$1 == "drydock_runs_oldest_queued_seconds{pool=\"gpu\"}" { exit !($2 >= 1 && $2 < 60) }' "$WORK/metrics.txt" ||
  fail "the oldest queued run of pool gpu waited $(value 'drydock_runs_oldest_queued_seconds{pool="gpu"}') s, not 1-60"
ok "the oldest queued run of pool gpu waited $(value 'drydock_runs_oldest_queued_seconds{pool="gpu"}') s"
drydock run cancel "$GPU" >/dev/null || fail "run cancel $GPU"
scrape
assert_eq 1 "$(value 'drydock_runs_finished_total{status="Canceled",type="QuickBuild"}')" "the queued run ended Canceled"
assert_eq 2 "$(value 'drydock_run_duration_seconds_count{type="QuickBuild"}')" \
  "a run that never started has no duration"
assert_eq 0 "$(value 'drydock_runs_queue_depth{pool="gpu"}')" "pool gpu: none queued"

log "a webhook delivery with no valid signature counts as bad_signature, by provider"
curl -sS -o /dev/null -X POST -H 'X-GitHub-Event: push' -H 'X-Hub-Signature-256: sha256=00' \
  -H 'Content-Type: application/json' -d '{}' "$URL/api/v1/webhooks/no-such-task"
scrape
assert_eq 1 "$(value 'drydock_webhook_deliveries_total{provider="github",verdict="bad_signature"}')" \
  "one GitHub delivery with a bad signature"
assert_eq 0 "$(value 'drydock_gc_runs_total{result="error"}')" "no failed GC pass"

log "promtool check metrics accepts the exposition"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1 ||
  { cat "$WORK/promtool.out" >&2; fail "promtool check metrics"; }
ok "promtool check metrics: $(wc -l <"$WORK/metrics.txt") lines, no problem"

log "docs/operations.md's alert rules and the Grafana dashboard use metrics that exist"
DOCS="$(dirname "$0")/../../docs"
awk '/^## Alerts/ { a = 1 } a && /^```yaml$/ { on = 1; next } on && /^```$/ { exit } on' \
  "$DOCS/operations.md" >"$WORK/alerts.yaml"
promtool check rules "$WORK/alerts.yaml" >"$WORK/rules.out" 2>&1 || { cat "$WORK/rules.out" >&2; fail "promtool check rules"; }
ok "promtool check rules accepts the alert rules ($(grep -c 'alert:' "$WORK/alerts.yaml") alerts)"
jq -e . "$DOCS/grafana-dashboard.json" >/dev/null || fail "the Grafana dashboard is not JSON"
for m in $(cat "$WORK/alerts.yaml" "$DOCS/grafana-dashboard.json" | grep -o 'drydock_[a-z_]*' | sort -u); do
  base=$(sed -E 's/_(bucket|count|sum)$//' <<<"$m")
  grep -q "^# TYPE $base " "$WORK/metrics.txt" || fail "the docs use $m, which /metrics does not have"
done
ok "every drydock_ metric the alerts and the dashboard use is on /metrics"
log "request ids: the response, the access log and the server log share one"
curl -sS -o /dev/null -D "$WORK/h1" -H 'X-Request-Id: obs-test.1' "${ADMIN[@]}" \
  -X PUT -H 'Content-Type: application/json' -d '{"level": "debug"}' "$URL/api/v1/admin/log-level" ||
  fail "PUT /api/v1/admin/log-level"
assert_eq "obs-test.1" "$(awk -F': ' 'tolower($1) == "x-request-id" { print $2 }' "$WORK/h1" | tr -d '\r')" \
  "the response carries the client's request id"
wait_for_log() { # wait_for_log PATTERN MESSAGE: a line of the server log matches
  for _ in $(seq 1 50); do grep -q -- "$1" "$SERVER_LOG" && { ok "$2"; return; }; sleep 0.1; done
  fail "$2: no line matches $1 in $SERVER_LOG"
}
wait_for_log '"request_id":"obs-test.1"' "the access log line names it"
wait_for_log '\[request=obs-test.1\] log level set to debug by admin' "so does the line the handler logged"
curl -sS -o /dev/null -D "$WORK/h2" -H "X-Request-Id: $(printf 'x%.0s' $(seq 1 80))" "$URL/v2/"
GENERATED=$(awk -F': ' 'tolower($1) == "x-request-id" { print $2 }' "$WORK/h2" | tr -d '\r')
[[ "$GENERATED" =~ ^[0-9a-f]{16}$ ]] || fail "an 80-character request id was not replaced: '$GENERATED'"
ok "an unusable request id (80 characters) is replaced by a new one: $GENERATED"
curl -sS -o /dev/null "${ADMIN[@]}" -H 'X-Request-Id: obs-run' "$URL/api/v1/runs/$GPU"
wait_for_log '"request_id":"obs-run".*"run":"'"$GPU"'"' "a run's request is logged with the run id"

log "the log level at runtime: the admin endpoint, and SIGHUP with the config file"
assert_eq debug "$(curl -sS "${ADMIN[@]}" "$URL/api/v1/admin/log-level" | jq -r .level)" "GET shows debug"
req PUT /api/v1/admin/log-level "${ADMIN[@]}" -H 'Content-Type: application/json' -d '{"level": "loud"}'
assert_status 400 "$STATUS" "an unknown level"
assert_contains "$LAST_BODY" "not one of trace, debug, info, warn, error, critical, off" "the error names the levels"
"$DRYDOCK_BIN" user add watcher --data "$DATA" -p watcher-pass-1 >"$WORK/useradd.out" 2>&1 ||
  { cat "$WORK/useradd.out" >&2; fail "drydock user add watcher"; }
req PUT /api/v1/admin/log-level -u watcher:watcher-pass-1 -H 'Content-Type: application/json' -d '{"level": "off"}'
assert_status 403 "$STATUS" "a user who is not an admin cannot set it"
echo "log_level: warn" >>"$WORK/default-server.yaml"
kill -HUP "$SERVER_PID"
for _ in $(seq 1 50); do
  [ "$(curl -sS "${ADMIN[@]}" "$URL/api/v1/admin/log-level" | jq -r .level)" = warn ] && break
  sleep 0.1
done
assert_eq warn "$(curl -sS "${ADMIN[@]}" "$URL/api/v1/admin/log-level" | jq -r .level)" \
  "SIGHUP read log_level: warn from the config file"
kill -0 "$SERVER_PID" || fail "SIGHUP stopped the server"
ok "the server still runs after SIGHUP"

ok "observability"
