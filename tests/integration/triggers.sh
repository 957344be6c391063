#!/usr/bin/env bash
# Saved tasks and their triggers end to end, through the client against a
# real server building with runc: `drydock task create|show|update|run|list|
# logs|list-runs|timer|credential|delete`, the base-image trigger (a changed
# base:1 rebuilds its dependents with the new base layer; same digest or a new
# tag does nothing; a 3-level chain cascades; Runtime vs All; 20 tasks on one
# base rebuild once each; a cycle between two tasks stops), a base image in
# Debian's docker-registry picked up by polling, the update-trigger endpoint,
# GitHub-style signed webhooks (bad signature 401, PR trigger), git polling of
# a bare repository, and `drydock image dependents`.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN
cat >"$WORK/drydock.yaml" <<EOF
builds:
  allow_private_fetches: true  # the test's git and tarball servers are on loopback
  concurrency: 2
triggers:
  min_poll_seconds: 1
  base_image_poll_seconds: 1
EOF
start_server --config "$WORK/drydock.yaml"
client_login

log "a git repository with the Dockerfiles, served by git daemon"
SRC="$WORK/src"
g() { git -C "$SRC" -c user.email=t@example.com -c user.name=t "$@"; }
git init -q -b main "$SRC"
mkdir -p "$SRC"/{app,framework,app2,ms,cyc-a,cyc-b,ext}
printf 'FROM %s/base:1\nCOPY app.txt /app.txt\n' "$REG" >"$SRC/app/Dockerfile"
echo app >"$SRC/app/app.txt"
printf 'FROM %s/base:1\nCOPY fw.txt /fw.txt\n' "$REG" >"$SRC/framework/Dockerfile"
echo framework >"$SRC/framework/fw.txt"
printf 'FROM %s/framework:1\nCOPY app2.txt /app2.txt\n' "$REG" >"$SRC/app2/Dockerfile"
echo app2 >"$SRC/app2/app2.txt"
printf 'FROM %s/sdk:1 AS build\nFROM %s/base:1\nCOPY --from=build /etc/drydock-test /sdk-version\n' \
  "$REG" "$REG" >"$SRC/ms/Dockerfile"
printf 'FROM %s/cyc-b:1\nCOPY a.txt /a.txt\n' "$REG" >"$SRC/cyc-a/Dockerfile"
echo a >"$SRC/cyc-a/a.txt"
printf 'FROM %s/cyc-a:1\nCOPY b.txt /b.txt\n' "$REG" >"$SRC/cyc-b/Dockerfile"
echo b >"$SRC/cyc-b/b.txt"
g add -A && g commit -qm one
mkdir -p "$WORK/git"
git clone -q --bare "$SRC" "$WORK/git/repo.git"
g remote add origin "$WORK/git/repo.git"
GPORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GPORT" \
  "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
BG_PIDS+=($!)
wait_port "$GPORT" "git daemon"
GIT="git://127.0.0.1:$GPORT/repo.git"

log "base images, and a task that builds FROM base:1"
push_base base:1 v1
push_base sdk:1 sdk1
BASE1=$(digest_of base:1)
drydock task create -n app -c "$GIT#main:app" -t app:1 >"$WORK/create.out" 2>"$WORK/create.err" ||
  { cat "$WORK/create.err" >&2; fail "task create app"; }
assert_eq "$REG/app:1" "$(jq -r '.images[0]' "$WORK/create.out")" "image name gets the server's registry"
assert_eq "Runtime base:1 $BASE1" \
  "$(jq -r '.baseImageDependencies[] | "\(.type) \(.repository):\(.tag) \(.digest)"' "$WORK/create.out")" \
  "dependencies scanned from the Dockerfile at create time, with the tag's digest"
assert_eq "true false true Runtime 3600" \
  "$(jq -r '"\(.commitTriggerEnabled) \(.pullRequestTriggerEnabled) \(.baseImageTriggerEnabled) \(.baseImageTriggerType) \(.timeout)"' "$WORK/create.out")" \
  "ACR's defaults"
drydock task run -n app >"$WORK/run1.out" 2>"$WORK/run1.err" || { cat "$WORK/run1.err" "$WORK/run1.out" >&2; fail "task run app"; }
assert_contains "$(cat "$WORK/run1.out")" "was successful" "manual task run"
RUN1=$(newest_run app)
assert_eq "AutoBuild Manual app" "$(run_field "$RUN1" '"\(.runType) \(.trigger) \(.task)"')" "manual run record"
assert_eq v1 "$(file_in app:1 etc/drydock-test | sed -n 3p)" "app:1 built on base v1"

log "a new digest under base:1 rebuilds app with the new base layer"
T0=$(date +%s.%N)
push_base base:1 v2
BASE2=$(digest_of base:1)
wait_count app 2 10
QUEUED_AFTER=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
ok "run queued ${QUEUED_AFTER}s after the push finished"
wait_idle 60
all_succeeded app
RUN2=$(newest_run app)
assert_eq "Image Update" "$(run_field "$RUN2" .trigger)" "triggered run's trigger"
assert_eq rebase "$(run_field "$RUN2" .patch.kind)" "a COPY-only image is rebased onto the new base, not rebuilt"
assert_eq "$REG base 1 $BASE2" \
  "$(run_field "$RUN2" '.imageUpdateTrigger.images[0] | "\(.registry) \(.repository) \(.tag) \(.digest)"')" \
  "the run record names the base image update"
assert_eq v2 "$(file_in app:1 etc/drydock-test | sed -n 3p)" "app:1 rebuilt on base v2"
assert_eq app "$(file_in app:1 app.txt)" "app content kept"
assert_eq "$BASE2" "$(drydock task show -n app | jq -r '.baseImageDependencies[0].digest')" \
  "the index records the digest the rebuild used"

log "re-pushing the same digest, or a new tag, triggers nothing"
push_base base:1 v2
push_base base:2 v9
# Checked after the next base:1 push (v3), which must bring app to exactly 3
# runs: the trigger takes pushes in order, so a run caused by these two
# would have been queued before v3's.

log "a 3-level chain: base -> framework (task) -> app2 (task)"
drydock task create -n framework -c "$GIT#main:framework" -t framework:1 >/dev/null
drydock task run -n framework >/dev/null 2>&1 || fail "first framework run"
drydock task create -n app2 -c "$GIT#main:app2" -t app2:1 >/dev/null
drydock task run -n app2 >/dev/null 2>&1 || fail "first app2 run"
push_base base:1 v3
wait_count framework 2 10
wait_count app2 2 60
wait_idle 90
for t in app framework app2; do all_succeeded "$t"; done
assert_eq 3 "$(run_count app)" "no run for the same digest or another tag; one for v3"
assert_eq 2 "$(run_count app2)" "app2 rebuilt once"
APP2_RUN=$(newest_run app2)
assert_eq "framework" "$(run_field "$APP2_RUN" '.imageUpdateTrigger.cascade | join(",")')" \
  "app2's run was caused by framework's"
assert_eq "$REG/framework:1" "$(run_field "$APP2_RUN" '.imageUpdateTrigger.images[0] | "\(.registry)/\(.repository):\(.tag)"')" \
  "app2's trigger names framework:1"
assert_eq v3 "$(file_in app2:1 etc/drydock-test | sed -n 3p)" "app2 carries base v3 through framework"
# Who pushed framework:1 is known, not guessed: the run's own credential.
FRAMEWORK_RUN=$(newest_run framework)
assert_eq "run:$FRAMEWORK_RUN" "$(curl -sS "${ADMIN[@]}" "$URL/api/v1/events?limit=1000" |
  jq -r '[.events[] | select(.action == "push" and .repository == "framework" and .tag == "1")] | last | .actor')" \
  "the event of framework:1's push names its run as the actor"
drydock image dependents base:1 >"$WORK/dependents.out" || fail "image dependents"
assert_contains "$(cat "$WORK/dependents.out")" "  app2" "dependents: app2 at depth 2"
assert_eq "app framework app2" "$(drydock image dependents base:1 -o json | jq -r '[.[].task] | join(" ")')" \
  "dependents of base:1, transitively"
assert_eq "true true true" "$(drydock image dependents base:1 -o json | jq -r '[.[].upToDate] | join(" ")')" \
  "all up to date after the cascade"

log "Runtime vs All: a build-time base (sdk:1) only triggers tasks of type All"
drydock task create -n ms-runtime -c "$GIT#main:ms" -t ms:runtime >/dev/null
drydock task create -n ms-all -c "$GIT#main:ms" -t ms:all --base-image-trigger-type All >/dev/null
assert_eq "BuildTime Runtime" "$(drydock task show -n ms-all | jq -r '[.baseImageDependencies[].type] | sort | join(" ")')" \
  "multi-stage dependencies"
push_base sdk:1 sdk2
wait_count ms-all 1 10
# Checked again after the next base:1 push, a Runtime base of ms-runtime:
# pushes are taken in order, so a run caused by sdk:1 would come first.
assert_eq 0 "$(run_count ms-runtime)" "Runtime task ignores the build-time base"
wait_idle 60
all_succeeded ms-all
assert_eq sdk2 "$(file_in ms:all sdk-version | sed -n 3p)" "All task rebuilt with the new sdk"

log "20 tasks on one base: one push rebuilds each exactly once"
for i in $(seq 1 20); do
  drydock task create -n many$i -c "$GIT#main:app" -t many:$i >/dev/null || fail "create many$i"
done
push_base base:1 b0
wait_idle 240
assert_eq 1 "$(run_count ms-runtime)" "ms-runtime ran for its Runtime base only, never for sdk:1"
for i in $(seq 1 20); do
  n=$(run_count many$i)
  [ "$n" = 1 ] || fail "task many$i has $n runs, expected 1"
  all_succeeded many$i
done
ok "20 tasks, one run each"
assert_contains "$(for i in $(seq 1 20); do drydock run logs "$(newest_run many$i)"; done)" "kept by an earlier run" \
  "runs of one commit share a checkout"
log "a burst of 3 pushes: coalesced (a task gets at most one run beyond the one already running)"
for v in b1 b2 b3; do push_base base:1 $v; done
wait_idle 240
for i in $(seq 1 20); do
  n=$(run_count many$i)
  { [ "$n" -ge 2 ] && [ "$n" -le 3 ]; } || fail "task many$i has $n runs after the burst, expected 2 or 3"
  all_succeeded many$i
  assert_eq true "$(drydock image dependents base:1 -o json | jq -r --arg t many$i '.[] | select(.task == $t) | .upToDate')" \
    "many$i up to date" >/dev/null
done
ok "burst: $(runs_json | jq '[.[] | select(.task | startswith("many"))] | length') runs for 20 tasks and 4 pushes"
assert_eq b3 "$(file_in many:7 etc/drydock-test | sed -n 3p)" "built on the last base of the burst"

log "a dependency cycle between two tasks cannot loop"
push_base cyc-a:1 a0
push_base cyc-b:1 b0
drydock task create -n cyc-a -c "$GIT#main:cyc-a" -t cyc-a:1 >/dev/null
drydock task create -n cyc-b -c "$GIT#main:cyc-b" -t cyc-b:1 >/dev/null
push_base cyc-a:1 a1
wait_count cyc-b 1 10
wait_count cyc-a 1 60
wait_idle 60
# The trigger says when it stops the cycle; only then is the count final.
for _ in $(seq 1 100); do
  grep -q "already in this cascade" "$SERVER_LOG" && break
  sleep 0.1
done
assert_contains "$(cat "$SERVER_LOG")" "already in this cascade" "the cycle is reported in the server log"
wait_idle 60
assert_eq "1 1" "$(run_count cyc-a) $(run_count cyc-b)" "each task of the cycle ran once"

log "a base image in Debian's docker-registry, found by polling"
DIST_PORT=$(free_port)
cat >"$WORK/distribution.yaml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/distribution-data
http:
  addr: 127.0.0.1:$DIST_PORT
EOF
# distribution reads REGISTRY_* variables as configuration: lib.sh's
# REGISTRY_AUTH_FILE (for skopeo) would become an unknown auth backend.
env -u REGISTRY_AUTH_FILE docker-registry serve "$WORK/distribution.yaml" >"$WORK/distribution.log" 2>&1 &
DIST_PID=$!
BG_PIDS+=($DIST_PID)
wait_port "$DIST_PORT" "docker-registry"
EXT="127.0.0.1:$DIST_PORT"
ext_push() {
  local dir="$WORK/layouts/ext-$1"
  make_busybox_layout "$dir" 1 "$1" >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$dir:1" "docker://$EXT/base:1" >/dev/null || fail "push to docker-registry"
}
ext_push e1
printf 'FROM %s/base:1\nCOPY app.txt /app.txt\n' "$EXT" >"$SRC/ext/Dockerfile"
echo ext >"$SRC/ext/app.txt"
g add -A && g commit -qm ext && g push -q origin main
drydock task create -n ext -c "$GIT#main:ext" -t ext:1 >/dev/null
for _ in $(seq 1 50); do
  [ -n "$(drydock task show -n ext | jq -r '.baseImageDependencies[0].digest')" ] && break
  sleep 0.2
done
assert_eq "$(skopeo inspect --raw --tls-verify=false "docker://$EXT/base:1" | sha256sum | cut -d' ' -f1)" \
  "$(drydock task show -n ext | jq -r '.baseImageDependencies[0].digest' | sed 's/^sha256://')" \
  "first poll records the external tag's digest"
assert_eq 0 "$(run_count ext)" "the first poll queues nothing"
ext_push e2
wait_count ext 1 15
wait_idle 60
all_succeeded ext
assert_eq "$EXT base 1" "$(run_field "$(newest_run ext)" '.imageUpdateTrigger.images[0] | "\(.registry) \(.repository) \(.tag)"')" \
  "external update in the run record"
assert_eq e2 "$(file_in ext:1 etc/drydock-test | sed -n 3p)" "rebuilt on the external base"
assert_eq "" "$(drydock task show -n ext | jq -r ".triggerStatus.basePoll[\"$EXT/base:1\"].error")" \
  "poll status shown without error"
kill "$DIST_PID"
wait "$DIST_PID" 2>/dev/null || true
POLL_ERR=""
for _ in $(seq 1 50); do
  POLL_ERR=$(drydock task show -n ext | jq -r ".triggerStatus.basePoll[\"$EXT/base:1\"] | select(.failures >= 1) | .error")
  [ -n "$POLL_ERR" ] && break
  sleep 0.2
done
assert_contains "$POLL_ERR" "$EXT" "a failing poll is shown in task show, naming the registry"

log "update trigger endpoint: told about the run a base update queued"
HOOK_PORT=$(free_port)
mkdir -p "$WORK/www/cgi-bin"
cat >"$WORK/www/cgi-bin/notify" <<EOF
#!/bin/sh
head -c "\${CONTENT_LENGTH:-0}" >>"$WORK/notify.body"
echo >>"$WORK/notify.body"
printf 'Content-Type: text/plain\r\n\r\nok\n'
EOF
chmod +x "$WORK/www/cgi-bin/notify"
"$BUSYBOX" httpd -f -p "127.0.0.1:$HOOK_PORT" -h "$WORK/www" &
BG_PIDS+=($!)
wait_port "$HOOK_PORT" "busybox httpd"
drydock task update -n app --update-trigger-endpoint "http://127.0.0.1:$HOOK_PORT/cgi-bin/notify" >/dev/null
drydock task run -n app --update-trigger-token tok-123 >/dev/null 2>&1 || fail "task run with a token"
push_base base:1 v4
wait_idle 240
for _ in $(seq 1 50); do [ -s "$WORK/notify.body" ] && break; sleep 0.1; done
NOTE=$(head -n1 "$WORK/notify.body")
assert_eq "app tok-123 $(digest_of base:1) $(newest_run app)" \
  "$(jq -r '"\(.task) \(.token) \(.images[0].digest) \(.runId)"' <<<"$NOTE")" "notification body"

log "webhooks: a signed GitHub push event builds that commit"
SHOW=$(drydock task show -n app)
SECRET=$(jq -r .webhookSecret <<<"$SHOW")
HOOK_URL=$(jq -r .webhookUrl <<<"$SHOW")
assert_eq "$URL/api/v1/webhooks/app" "$HOOK_URL" "task show prints the webhook URL"
echo "app v2" >"$SRC/app/app.txt"
g commit -qam "app v2" && g push -q origin main
COMMIT=$(g rev-parse HEAD)
event() {  # event EVENT-TYPE DELIVERY BODY SECRET
  curl -s -o "$WORK/hook.out" -w '%{http_code}' -X POST "$HOOK_URL" -H "X-GitHub-Event: $1" \
    -H "X-GitHub-Delivery: $2" -H 'Content-Type: application/json' \
    -H "X-Hub-Signature-256: sha256=$(printf '%s' "$3" | openssl dgst -sha256 -hmac "$4" -r | cut -d' ' -f1)" \
    --data-binary "$3"
}
PUSH=$(jq -cn --arg c "$COMMIT" --arg u "$GIT" '{ref: "refs/heads/main", after: $c, deleted: false, repository: {clone_url: $u}}')
BEFORE=$(run_count app)
assert_eq 401 "$(event push d-bad "$PUSH" wrong-secret)" "bad signature"
assert_eq "$BEFORE" "$(run_count app)" "nothing queued for a bad signature"
assert_eq 202 "$(event push d-1 "$PUSH" "$SECRET")" "signed push accepted"
HOOK_RUN=$(jq -r .runId "$WORK/hook.out")
assert_eq 200 "$(event push d-1 "$PUSH" "$SECRET")" "duplicate delivery"
# Replays (issue 12): a new delivery id, or the same signature relabelled as
# Gitea's (the same HMAC of the body), queue nothing more.
AFTER_FIRST=$(run_count app)
assert_eq 200 "$(event push d-replayed "$PUSH" "$SECRET")" "replay with a new delivery id"
assert_contains "$(cat "$WORK/hook.out")" "already queued" "the replay is named as such"
SIG=$(printf '%s' "$PUSH" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
assert_eq 200 "$(curl -s -o "$WORK/hook.out" -w '%{http_code}' -X POST "$HOOK_URL" \
  -H 'X-Gitea-Event: push' -H 'X-Gitea-Delivery: g-1' -H "X-Gitea-Signature: $SIG" \
  --data-binary "$PUSH")" "the same body relabelled as Gitea"
assert_eq "$AFTER_FIRST" "$(run_count app)" "no run for a replayed or relabelled delivery"
# An unknown task answers exactly as a bad signature does.
BAD_SIG=$(event push d-bad2 "$PUSH" wrong-secret; echo " $(cat "$WORK/hook.out")")
NO_TASK=$(HOOK_URL="$URL/api/v1/webhooks/no-such-task" event push d-bad3 "$PUSH" "$SECRET"; echo " $(cat "$WORK/hook.out")")
assert_eq "$BAD_SIG" "$NO_TASK" "unknown task and bad signature look alike"
wait_idle 60
assert_eq "Succeeded commit $COMMIT github" \
  "$(run_field "$HOOK_RUN" '"\(.status) \(.sourceTrigger.eventType) \(.sourceTrigger.commitId) \(.sourceTrigger.providerType)"')" \
  "webhook run record"
assert_eq "$COMMIT" "$(run_field "$HOOK_RUN" .source.commit)" "the run built the pushed commit"
assert_eq "app v2" "$(file_in app:1 app.txt)" "image has the pushed commit's content"
PR=$(jq -cn --arg c "$COMMIT" '{action: "opened", number: 7, pull_request: {head: {sha: $c}, base: {ref: "main"}}, repository: {clone_url: "x"}}')
BEFORE=$(run_count app)
assert_eq 202 "$(event pull_request d-2 "$PR" "$SECRET")" "PR event with the PR trigger off"
assert_contains "$(cat "$WORK/hook.out")" "pull request trigger is off" "PR ignored"
assert_eq "$BEFORE" "$(run_count app)" "nothing queued for a PR while the PR trigger is off"
drydock task update -n app --pull-request-trigger-enabled true >/dev/null
assert_eq 202 "$(event pull_request d-3 "$PR" "$SECRET")" "PR event with the PR trigger on"
PR_RUN=$(jq -r .runId "$WORK/hook.out")
wait_idle 60
assert_eq "Succeeded pullrequest 7 Pull Request" \
  "$(run_field "$PR_RUN" '"\(.status) \(.sourceTrigger.eventType) \(.sourceTrigger.pullRequestId) \(.trigger)"')" \
  "PR run record"

log "polling: a git push to the bare repository starts a run"
drydock task create -n poll -c "$GIT#main:app" -t poll:1 --base-image-trigger-enabled false \
  --source-poll-interval 1 >/dev/null
for _ in $(seq 1 50); do
  [ "$(drydock task show -n poll | jq -r '.triggerStatus.sourcePoll.commit // empty')" = "$COMMIT" ] && break
  sleep 0.2
done
assert_eq "$COMMIT" "$(drydock task show -n poll | jq -r .triggerStatus.sourcePoll.commit)" "poller saw the branch"
assert_eq 0 "$(run_count poll)" "the first poll queues nothing"
echo "app v3" >"$SRC/app/app.txt"
g commit -qam "app v3" && g push -q origin main
COMMIT3=$(g rev-parse HEAD)
wait_count poll 1 15
wait_idle 60
assert_eq 1 "$(run_count poll)" "only the new commit was built: the first poll queued nothing"
assert_eq "Succeeded $COMMIT3 poll" \
  "$(run_field "$(newest_run poll)" '"\(.status) \(.sourceTrigger.commitId) \(.sourceTrigger.providerType)"')" \
  "polled run record"
assert_eq "app v3" "$(file_in poll:1 app.txt)" "polled run built the new commit"

log "timers, credentials, listing, logs and bad input"
drydock task timer add -n app --timer-name nightly --schedule "0 3 * * Mon-Fri" >/dev/null || fail "timer add"
drydock task timer update -n app --timer-name nightly --enabled false >/dev/null || fail "timer update"
assert_eq "nightly 0 3 * * Mon-Fri false" "$(drydock task show -n app | jq -r '.timers[0] | "\(.name) \(.schedule) \(.enabled)"')" \
  "timer added and disabled"
drydock task timer remove -n app --timer-name nightly >/dev/null
assert_eq 0 "$(drydock task show -n app | jq '.timers | length')" "timer removed"
drydock task create -n timed -c "$GIT#main:app" -t timed:1 --schedule "*/5 * * * *" --schedule "daily:0 0 * * *" >/dev/null
assert_eq "t1 daily" "$(drydock task show -n timed | jq -r '[.timers[].name] | join(" ")')" "timer names"
drydock task credential add -n app --login-server "$EXT" -u puller -p s3cret-pw >/dev/null
assert_eq "$EXT puller" "$(drydock task show -n app | jq -r '.credentials[0] | "\(.loginServer) \(.username)"')" "credential added"
assert_not_contains "$(drydock task show -n app; drydock task list -o json)" "s3cret-pw" "credential password never shown"
assert_contains "$(drydock task list)" "framework" "task list"
assert_contains "$(drydock task list-runs -n app)" "Image Update" "task list-runs shows triggers"
assert_contains "$(drydock task logs -n app 2>/dev/null)" "was successful" "task logs of the newest run"
if drydock task create -n multi -c "$GIT#main:app" -f acb.yaml -t app:1 >"$WORK/bad.out" 2>&1; then fail "task YAML with an image accepted"; fi
assert_contains "$(cat "$WORK/bad.out")" "push steps name its images" "task YAML with --image refused clearly"
if drydock task create -n badcron -c "$GIT#main:app" --schedule "61 * * * *" >"$WORK/bad.out" 2>&1; then fail "bad cron accepted"; fi
assert_contains "$(cat "$WORK/bad.out")" "minute: 61 is out of range" "bad cron refused clearly"
if drydock task create -n app -c "$GIT#main:app" >"$WORK/bad.out" 2>&1; then fail "duplicate task accepted"; fi
assert_contains "$(cat "$WORK/bad.out")" "already exists" "duplicate name"
drydock task delete -n timed --yes >/dev/null
if drydock task show -n timed >/dev/null 2>&1; then fail "deleted task still shown"; fi
ok "task deleted"

stop_server

