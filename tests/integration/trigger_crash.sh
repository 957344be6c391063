#!/usr/bin/env bash
# Nothing a push should cause is lost in a crash (issue 13): the base-image
# trigger follows the event log, which each push writes with the manifest.
# A task builds FROM base:1; five times a new base:1 is pushed and the server
# is killed with SIGKILL while the trigger holds the push (a test-only pause
# of 1 s between reading the event and queueing, DRYDOCK_TEST_TRIGGER_DELAY_MS),
# then started again. Each push must rebuild the task exactly once, queued by
# the restarted server. A signed webhook delivered, then delivered again
# after a kill -9 and a restart (as a provider retries), builds its commit once.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN
export DRYDOCK_TEST_TRIGGER_DELAY_MS=1000
cat >"$WORK/drydock.yaml" <<YAML
builds:
  allow_private_fetches: true  # the test's git server is on loopback
  concurrency: 1
YAML
# One port across restarts: the task's images and dependencies name it.
FIXED_PORT=$(free_port)
start_server --config "$WORK/drydock.yaml"
client_login
queued_lines() { grep -c "updated, queued" "$1" || true; }

runs_json() { drydock run list --top 200 -o json --task app; }
# wait_built DIGEST SECONDS: until a run of app queued for DIGEST has finished.
wait_built() {
  local status=""
  for _ in $(seq 1 $(($2 * 4))); do
    status=$(runs_json | jq -r --arg d "$1" '[.[] | select(.imageUpdateTrigger.images[0].digest == $d) | .status] | join(" ")')
    case $status in Succeeded | Failed | Error) return 0 ;; esac
    sleep 0.25
  done
  fail "no finished run of app for base $1 after $2 s (runs: $status)"
}

log "a git repository with app's Dockerfile, served by git daemon"
SRC="$WORK/src"
git init -q -b main "$SRC"
printf 'FROM %s/base:1\nRUN cat /etc/drydock-test >/built-on\n' "$REG" >"$SRC/Dockerfile"
git -C "$SRC" add -A && git -C "$SRC" -c user.email=t@example.com -c user.name=t commit -qm one
mkdir -p "$WORK/git" && git clone -q --bare "$SRC" "$WORK/git/repo.git"
GPORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GPORT" \
  "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
BG_PIDS+=($!)
wait_port "$GPORT" "git daemon"

push_base base:1 v1
drydock task create -n app -c "git://127.0.0.1:$GPORT/repo.git#main" -t app:1 >/dev/null
drydock task run -n app >"$WORK/run1.out" 2>&1 || { cat "$WORK/run1.out" >&2; fail "task run app"; }

DIGESTS=()
for i in 1 2 3 4 5; do
  delay=$(awk -v i="$i" 'BEGIN { printf "%.2f", (i - 1) * 0.15 }')
  before=$(queued_lines "$SERVER_LOG")
  push_base base:1 "v$((i + 1))"
  DIGESTS+=("$(digest_of base:1)")
  sleep "$delay"
  KILLED_LOG=$SERVER_LOG
  kill9_server
  log "push $i: killed drydock ${delay}s after the push was acknowledged"
  assert_eq "$before" "$(queued_lines "$KILLED_LOG")" "rebuilds the killed server had queued"
  start_server --config "$WORK/drydock.yaml"
  wait_built "${DIGESTS[$((i - 1))]}" 120
  assert_eq 1 "$(queued_lines "$SERVER_LOG")" "rebuilds queued by the restarted server (push $i's)"
done

log "each push rebuilt app exactly once"
TRIGGERED=$(runs_json | jq -r '[.[] | select(.trigger == "Image Update") | .imageUpdateTrigger.images[0].digest] | sort | join(" ")')
EXPECTED=$(printf '%s\n' "${DIGESTS[@]}" | sort | paste -sd' ')
assert_eq "$EXPECTED" "$TRIGGERED" "one Image Update run per pushed digest"
assert_eq 6 "$(runs_json | jq length)" "runs of app: the manual one and five rebuilds"
LAST=$(runs_json | jq -r '.[0].runId')
assert_eq Succeeded "$(drydock run show "$LAST" | jq -r .status)" "the last rebuild succeeded"
STATUSES=$(curl -sS -u "admin:$ADMIN_PASS" "$URL/api/v1/events?limit=1000" |
  jq -r --arg r "$LAST" '[.events[] | select(.action == "run" and .run == $r) | .status] | join(" ")')
assert_contains "$STATUSES" "Queued" "the event log has the run's statuses ($STATUSES)"
assert_contains "$STATUSES" "Succeeded" "the event log has the run's statuses ($STATUSES)"

log "a webhook delivered again after a crash builds its commit once"
SECRET=$(drydock task show -n app | jq -r .webhookSecret)
COMMIT=$(git -C "$SRC" rev-parse HEAD)
PUSH=$(jq -cn --arg c "$COMMIT" '{ref: "refs/heads/main", after: $c, deleted: false, repository: {clone_url: "x"}}')
hook() {
  curl -s -o "$WORK/hook.out" -w '%{http_code}' -X POST "$URL/api/v1/webhooks/app" \
    -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: $1" -H 'Content-Type: application/json' \
    -H "X-Hub-Signature-256: sha256=$(printf '%s' "$PUSH" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)" \
    --data-binary "$PUSH"
}
assert_eq 202 "$(hook delivery-1)" "the delivery"
kill9_server
start_server --config "$WORK/drydock.yaml"
assert_eq 200 "$(hook delivery-1)" "the same delivery, retried after the restart"
assert_contains "$(cat "$WORK/hook.out")" "already queued" "named a duplicate"
assert_eq 1 "$(runs_json | jq --arg c "$COMMIT" '[.[] | select(.sourceTrigger.commitId == $c)] | length')" \
  "runs of the webhook's commit"
stop_server
