#!/usr/bin/env bash
# Webhook notifications: drydock POSTs manifest push/delete events to the
# endpoints in its config. The receiver is busybox httpd (busybox-static)
# running a CGI script that appends each request body to a file.
. "$(dirname "$0")/lib.sh"

HOOK_PORT=$(free_port)
mkdir -p "$WORK/www/cgi-bin"
# hook: records every body; flaky: answers 500 to its first request.
for name in hook flaky; do
  cat >"$WORK/www/cgi-bin/$name" <<EOF
#!/bin/sh
n=\$(cat "$WORK/$name.count" 2>/dev/null || echo 0)
n=\$((n + 1))
echo "\$n" >"$WORK/$name.count"
body=\$(head -c "\${CONTENT_LENGTH:-0}")
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
stop_server
