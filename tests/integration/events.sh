#!/usr/bin/env bash
# Webhook notifications: drydock POSTs manifest push/delete events to the
# endpoints in its config. The receiver is busybox httpd (busybox-static)
# running a CGI script that appends each request body to a file. Run
# notifications (issue 19): a failed task run gives exactly one signed
# run.failed delivery naming the task, trigger, cause, failing step and log
# to an endpoint that asks for them (runs of other tasks and quick builds
# are filtered out), and a receiver that was down gets it once it is up.
. "$(dirname "$0")/lib.sh"

HOOK_PORT=$(free_port)
LATE_PORT=$(free_port)
mkdir -p "$WORK/www/cgi-bin"
# hook: records every body; flaky: answers 500 to its first request; runs,
# late and taskhook (a task's own --notify-url): run notifications. Each body is also kept as it came
# ($name.body.N) with its X-Drydock-Signature ($name.sigs).
for name in hook flaky runs late taskhook; do
  cat >"$WORK/www/cgi-bin/$name" <<EOF
#!/bin/sh
n=\$(cat "$WORK/$name.count" 2>/dev/null || echo 0)
n=\$((n + 1))
echo "\$n" >"$WORK/$name.count"
head -c "\${CONTENT_LENGTH:-0}" >"$WORK/$name.body.\$n"
body=\$(cat "$WORK/$name.body.\$n")
printf '%s\n' "\${HTTP_X_DRYDOCK_SIGNATURE:-none}" >>"$WORK/$name.sigs"
printf '%s %s %s\n' "\$REQUEST_METHOD" "\$CONTENT_TYPE" "\${HTTP_X_DRYDOCK_TEST:-none}" >>"$WORK/$name.meta"
if [ "$name" = flaky ] && [ "\$n" = 1 ]; then
  printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nnot yet\n'
  exit 0
fi
printf '%s\n' "\$body" >>"$WORK/$name.events"
printf 'Content-Type: text/plain\r\n\r\nok\n'
EOF
  chmod +x "$WORK/www/cgi-bin/$name"
done
busybox httpd -f -p "127.0.0.1:$HOOK_PORT" -h "$WORK/www" &
HTTPD=$!
BG_PIDS+=($HTTPD)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HOOK_PORT/" && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$HOOK_PORT/" || fail "busybox httpd did not start on port $HOOK_PORT"
ok "webhook receiver (busybox httpd) on 127.0.0.1:$HOOK_PORT"

cat >"$WORK/config.yaml" <<EOF
notifications:
  - name: primary
    url: http://127.0.0.1:$HOOK_PORT/cgi-bin/hook
    headers: ["X-Drydock-Test: events-test"]
  - name: flaky
    url: http://127.0.0.1:$HOOK_PORT/cgi-bin/flaky
    backoff_ms: 100
    max_attempts: 3
  - name: runs
    url: http://127.0.0.1:$HOOK_PORT/cgi-bin/runs
    events: [run.failed]
    tasks: ["notify-*"]
    secret: s3cr3t-for-runs
  - name: late
    url: http://127.0.0.1:$LATE_PORT/cgi-bin/late
    events: [run.failed]
    tasks: [notify-app]
    backoff_ms: 500
    max_attempts: 8
builds:
  allow_private_fetches: true  # the task's context is on the receiver's loopback server
EOF
start_server --config "$WORK/config.yaml"

# wait_events FILE COUNT: until FILE holds COUNT events (10 s at most).
wait_events() {
  for _ in $(seq 1 100); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "expected $2 event(s) in ${1##*/}, have $( [ -f "$1" ] && wc -l <"$1" || echo 0)"
}
# event N: the Nth delivered event (1-based) of the primary endpoint.
event() { sed -n "${1}p" "$WORK/hook.events" | jq -c '.events[0]'; }

log "push"
DIGEST=$(make_busybox_layout "$WORK/img" v1 "events test")
SIZE=$(stat -c %s "$(layout_blob "$WORK/img" "$DIGEST")")
push_layout "$WORK/img" v1 events/app:v1
wait_events "$WORK/hook.events" 1
E=$(event 1)
assert_eq 1 "$(sed -n 1p "$WORK/hook.events" | jq '.events | length')" "events in the first envelope"
assert_eq push "$(jq -r .action <<<"$E")" "action"
assert_eq events/app "$(jq -r .target.repository <<<"$E")" "target.repository"
assert_eq v1 "$(jq -r .target.tag <<<"$E")" "target.tag"
assert_eq "$DIGEST" "$(jq -r .target.digest <<<"$E")" "target.digest"
assert_eq application/vnd.oci.image.manifest.v1+json "$(jq -r .target.mediaType <<<"$E")" "target.mediaType"
assert_eq "$SIZE" "$(jq -r .target.size <<<"$E")" "target.size"
assert_eq admin "$(jq -r .actor.name <<<"$E")" "actor.name"
assert_ne "" "$(jq -r '.id // empty' <<<"$E")" "event id"
assert_contains "$(jq -r .timestamp <<<"$E")" "$(date -u +%Y-)" "timestamp"
assert_eq "POST application/vnd.docker.distribution.events.v1+json events-test" "$(sed -n 1p "$WORK/hook.meta")" \
  "method, Content-Type and configured header of the delivery"

log "rejected push sends nothing; push by digest and delete do"
printf '{"schemaVersion": 2, "config": ' >"$WORK/broken.json"
put_manifest events/app broken "$WORK/broken.json"
assert_status 400 "$STATUS" "malformed manifest"
MANIFEST="$(layout_blob "$WORK/img" "$DIGEST")"
put_manifest events/app "$DIGEST" "$MANIFEST"
assert_status 201 "$STATUS" "PUT the manifest again by digest"
req DELETE /v2/events/app/manifests/v1 "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE tag v1"
wait_events "$WORK/hook.events" 3
assert_eq "push|$DIGEST" "$(event 2 | jq -r '"\(.action)|\(.target.tag // "")\(.target.digest)"')" \
  "second event: push by digest, no tag"
assert_eq "delete|v1|$DIGEST" "$(event 3 | jq -r '"\(.action)|\(.target.tag)|\(.target.digest)"')" \
  "third event: tag delete"
sleep 0.5
assert_eq 3 "$(wc -l <"$WORK/hook.events")" "events delivered (none for the rejected manifest)"
IDS=$(jq -r '.events[0].id' "$WORK/hook.events" | paste -sd' ')
assert_eq "$(tr ' ' '\n' <<<"$IDS" | sort -n | paste -sd' ')" "$IDS" "event ids in delivery order"

log "retry after a failed delivery"
wait_events "$WORK/flaky.events" 3
assert_eq 4 "$(cat "$WORK/flaky.count")" "requests to the flaky endpoint (1 refused + 3 delivered)"
assert_eq "$(jq -c '.events[0] | del(.timestamp)' "$WORK/hook.events" | paste -sd' ')" \
  "$(jq -c '.events[0] | del(.timestamp)' "$WORK/flaky.events" | paste -sd' ')" "flaky endpoint got the same events, in order"
assert_contains "$(cat "$SERVER_LOG")" "webhook flaky: delivery of event" "server log reports the failed attempt"

log "the event log over the API"
req GET "/api/v1/events" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET /api/v1/events"
assert_eq "push v1|push |delete v1" "$(jq -r '[.events[] | "\(.action) \(.tag // "")"] | join("|")' <<<"$LAST_BODY")" \
  "the log: both pushes and the tag delete"
FIRST=$(jq -r '.events[0].id' <<<"$LAST_BODY")
assert_eq "$(jq -r '.events[2].id' <<<"$LAST_BODY")" "$(jq -r .last <<<"$LAST_BODY")" "last"
assert_eq "$SIZE user:admin" "$(jq -r '.events[0] | "\(.size) \(.actor)"' <<<"$LAST_BODY")" "size and actor"
req GET "/api/v1/events?after=$FIRST&limit=1" "${ADMIN[@]}"
assert_eq "push $((FIRST + 1))" "$(jq -r '"\(.events[0].action) \(.last)"' <<<"$LAST_BODY")" "after= and limit="
RUN_EVENTS=$(curl -sS "${ADMIN[@]}" "$URL/api/v1/events?limit=1000" | jq '[.events[] | select(.action == "run")] | length')
assert_eq 0 "$RUN_EVENTS" "no run, no run events"
req GET "/api/v1/events?after=-1" "${ADMIN[@]}"
assert_status 400 "$STATUS" "a negative after"
assert_contains "$LAST_BODY" "after must be a number" "the parameter is named"

log "a delivery cut short by a crash is made after the restart"
kill "$HTTPD"
wait "$HTTPD" 2>/dev/null || true
push_layout "$WORK/img" v1 events/app:v2
for _ in $(seq 1 100); do
  grep -q "webhook primary: delivery of event .* failed (attempt 1/" "$SERVER_LOG" && break
  sleep 0.1
done
assert_contains "$(cat "$SERVER_LOG")" "webhook primary: delivery of event" "the delivery failed while the receiver was down"
kill9_server
busybox httpd -f -p "127.0.0.1:$HOOK_PORT" -h "$WORK/www" &
BG_PIDS+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HOOK_PORT/" && break; sleep 0.1; done
start_server --config "$WORK/config.yaml"
wait_events "$WORK/hook.events" 4
assert_eq "push|v2|$DIGEST" "$(event 4 | jq -r '"\(.action)|\(.target.tag)|\(.target.digest)"')" \
  "the push made while the receiver was down, delivered by the restarted server"
log "run notifications: one signed run.failed delivery per failed run of a matching task"
client_login
push_base base/busybox:1 v1
mkdir -p "$WORK/ctx-fail"
dockerfile "$WORK/ctx-fail/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN echo "about to fail" && exit 3
EOF
tar -czf "$WORK/www/fail.tar.gz" -C "$WORK/ctx-fail" .
for task in notify-app other-app; do
  drydock task create -n "$task" -c "http://127.0.0.1:$HOOK_PORT/fail.tar.gz" -t "notify/$task:1" \
    >"$WORK/task-$task.out" 2>&1 || { cat "$WORK/task-$task.out" >&2; fail "task create $task"; }
done
drydock task run -n notify-app >"$WORK/run1.out" 2>&1 && fail "the failing task run succeeded"
RUN1=$(newest_run notify-app)
assert_eq Failed "$(run_field "$RUN1" .status)" "notify-app's run failed"
wait_events "$WORK/runs.events" 1
E=$(sed -n 1p "$WORK/runs.events" | jq -c '.events[0]')
assert_eq "run.failed $RUN1 Failed notify-app Manual" \
  "$(jq -r '"\(.action) \(.run.id) \(.run.status) \(.run.task) \(.run.trigger)"' <<<"$E")" \
  "action, run, status, task and trigger"
assert_eq "queued by admin" "$(jq -r .run.cause <<<"$E")" "the cause"
assert_eq build "$(jq -r .run.failedStep <<<"$E")" "the failing step"
assert_eq "$URL/api/v1/runs/$RUN1/log" "$(jq -r .run.logUrl <<<"$E")" "a link to its log"
assert_ne "" "$(jq -r .run.error <<<"$E")" "the error"
assert_eq "$RUN1" "$(jq -r .run.record.runId <<<"$E")" "the run record"
curl -sS "${ADMIN[@]}" "$(jq -r .run.logUrl <<<"$E")" | grep -q "about to fail" || fail "the log link does not give the log"
ok "the log link gives the run's log"
SIGNED="sha256=$(openssl dgst -sha256 -hmac s3cr3t-for-runs -r "$WORK/runs.body.1" | cut -d' ' -f1)"
assert_eq "$SIGNED" "$(sed -n 1p "$WORK/runs.sigs")" "X-Drydock-Signature: HMAC-SHA256 of the body under the endpoint's secret"
assert_ne "$(openssl dgst -sha256 -hmac another-secret -r "$WORK/runs.body.1" | cut -d' ' -f1)" \
  "$(sed -n 1p "$WORK/runs.sigs" | cut -d= -f2)" "which another secret does not give"

log "a receiver that is down gets the delivery once it is up"
for _ in $(seq 1 100); do
  grep -q "webhook late: delivery of event .* failed (attempt 2/8)" "$SERVER_LOG" && break
  sleep 0.1
done
assert_contains "$(cat "$SERVER_LOG")" "webhook late: delivery of event" "deliveries to the stopped receiver failed"
busybox httpd -f -p "127.0.0.1:$LATE_PORT" -h "$WORK/www" &
BG_PIDS+=($!)
for _ in $(seq 1 300); do [ -f "$WORK/late.events" ] && break; sleep 0.1; done
wait_events "$WORK/late.events" 1
assert_eq "run.failed $RUN1" "$(jq -r '.events[0] | "\(.action) \(.run.id)"' "$WORK/late.events")" \
  "the receiver that came back got the run.failed delivery"
assert_eq none "$(sed -n 1p "$WORK/late.sigs")" "an endpoint without a secret sends no signature"

log "filters: another task's failure and a quick build's are not sent; the next notify-app failure is"
drydock task update -n other-app --notify-url "http://127.0.0.1:$HOOK_PORT/cgi-bin/taskhook" \
  --notify-secret task-secret-1 >"$WORK/notify.out" 2>&1 || { cat "$WORK/notify.out" >&2; fail "task update --notify-url"; }
assert_eq "failure false" "$(curl -sS "${ADMIN[@]}" "$URL/api/v1/tasks/other-app" | jq -r '"\(.notifyOn) \(has("notifySecret"))"')" \
  "the task notifies on failure; its secret is never shown"
drydock task update -n other-app --notify-url ftp://example.com/x >"$WORK/notify-bad.out" 2>&1 &&
  fail "an ftp notify URL was accepted"
assert_contains "$(cat "$WORK/notify-bad.out")" "the notify URL must be an http(s) URL" "a bad notify URL is refused, saying why"
drydock task run -n other-app >"$WORK/run2.out" 2>&1 && fail "other-app's run succeeded"
drydock build "$WORK/ctx-fail" -t notify/quick:1 >"$WORK/quick.out" 2>&1 && fail "the failing quick build succeeded"
drydock task run -n notify-app >"$WORK/run3.out" 2>&1 && fail "the second notify-app run succeeded"
RUN3=$(newest_run notify-app)
wait_events "$WORK/runs.events" 2
assert_eq "$RUN1 $RUN3" "$(jq -r '.events[0].run.id' "$WORK/runs.events" | paste -sd' ')" \
  "exactly one delivery per notify-app failure, none for other-app or the quick build"
wait_events "$WORK/taskhook.events" 1
assert_eq "run.failed other-app build" \
  "$(jq -r '.events[0] | "\(.action) \(.run.task) \(.run.failedStep)"' "$WORK/taskhook.events")" \
  "other-app's own --notify-url got its failure"
assert_eq "sha256=$(openssl dgst -sha256 -hmac task-secret-1 -r "$WORK/taskhook.body.1" | cut -d' ' -f1)" \
  "$(sed -n 1p "$WORK/taskhook.sigs")" "signed with the task's --notify-secret"
stop_server
