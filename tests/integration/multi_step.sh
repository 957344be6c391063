#!/usr/bin/env bash
# Multi-step task files end to end through `drydock run` against a real
# server running steps with runc: ACR's classic samples (build and push;
# build, run the app detached, test it by its step id host name, push only
# if the tests pass; parallel builds; retries; ignoreErrors; a step
# timeout, after which nothing of the run is left behind), secrets that never
# reach the log, $aliases (custom and the server's image aliases) and
# .Values, --cmd, -f -, --dry-run, secret volumes, user names, privileged,
# bad input that runs nothing, and a task YAML rebuilt when its base image
# is updated.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN
# The image aliases point at an image the test pushes (there is no Docker Hub).
FIXED_PORT=$(free_port)
cat >"$WORK/drydock.yaml" <<EOF
builds:
  allow_private_fetches: true  # the test's git and tarball servers are on loopback
  concurrency: 2
  allow_privileged_steps: true
  agent_max_attempts: 1  # a run lost with a killed server ends Error (tested below), not retried
  image_aliases:
    bash: 127.0.0.1:$FIXED_PORT/tools/bash:1
triggers:
  min_poll_seconds: 1
  base_image_poll_seconds: 1
EOF
start_server --config "$WORK/drydock.yaml"
client_login

push_base base:1 v1
push_base tools/bash:1 tools
exists() { skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/$1" >/dev/null 2>&1; }
run_count() { drydock run list --top 1000 -o json | jq length; }

# task NAME: writes $WORK/NAME/task.yaml from stdin (@REG@ = the registry).
task() {
  mkdir -p "$WORK/$1"
  sed "s|@REG@|$REG|g" >"$WORK/$1/task.yaml"
}
# run_ok NAME [drydock run args...]: runs $WORK/NAME/task.yaml with
# $WORK/NAME as the source; the log in $WORK/NAME.log; prints the run id.
run_ok() {
  local name=$1
  shift
  drydock run -f "$WORK/$name/task.yaml" "$@" "$WORK/$name" >"$WORK/$name.log" 2>&1 ||
    { tail -n 30 "$WORK/$name.log" >&2; fail "drydock run $name failed"; }
  sed -n 's/^Queued a run with ID: //p' "$WORK/$name.log"
}
# run_fails NAME MESSAGE [args...]: the run must fail with MESSAGE in its output.
run_fails() {
  local name=$1 message=$2
  shift 2
  if drydock run -f "$WORK/$name/task.yaml" "$@" "$WORK/$name" >"$WORK/$name.log" 2>&1; then
    fail "drydock run $name should fail"
  fi
  assert_contains "$(cat "$WORK/$name.log")" "$message" "output of run $name"
}

log "build and push: \$Registry/\$ID, the run records what it pushed and the base it used"
task hello <<'EOF'
version: v1.1.0
steps:
  - build: -t $Registry/hello:$ID -t $Registry/hello:latest .
  - push:
    - $Registry/hello:$ID
    - $Registry/hello:latest
EOF
dockerfile "$WORK/hello/Dockerfile" <<'EOF'
FROM @REG@/base:1
COPY app.txt /app.txt
EOF
echo hello-app >"$WORK/hello/app.txt"
id=$(run_ok hello)
assert_ne "" "$id" "run id"
assert_eq Succeeded "$(run_field "$id" .status)" "status"
assert_eq QuickRun "$(run_field "$id" .runType)" "run type"
exists "hello:$id" || fail "hello:$id was not pushed"
exists hello:latest || fail "hello:latest was not pushed"
assert_eq "hello:$id hello:latest" "$(run_field "$id" '[.outputImages[] | "\(.repository):\(.tag)"] | join(" ")')" "output images"
assert_eq "base" "$(run_field "$id" '.dependencies[0]["runtime-dependency"].repository')" "runtime dependency"
assert_contains "$(cat "$WORK/hello.log")" "Step ID: acb_step_0 marked as successful" "step line"
assert_contains "$(cat "$WORK/hello.log")" "Step ID: acb_step_1 marked as successful" "push step line"
assert_eq "$id" "$(drydock run list --image "hello:$id" -o json | jq -r '.[0].runId')" "run found by image"

log "a build FROM an image an earlier step built (never pushed), as ACR's local image store"
task localbase <<'EOF'
version: v1.1.0
steps:
  - build: -t my-base -f base.Dockerfile .
  - build: -t $Registry/layered:$ID -f app.Dockerfile .
  - cmd: $Registry/layered:$ID sh -c 'cat /base.txt /app.txt'
  - push: ["$Registry/layered:$ID"]
EOF
dockerfile "$WORK/localbase/base.Dockerfile" <<'EOF'
FROM @REG@/base:1
RUN echo from-local-base >/base.txt
EOF
dockerfile "$WORK/localbase/app.Dockerfile" <<'EOF'
FROM my-base
RUN echo app-on-local-base >/app.txt
EOF
id=$(run_ok localbase)
assert_contains "$(cat "$WORK/localbase.log")" $'from-local-base\napp-on-local-base' "the app built on the local base"
exists "layered:$id" || fail "layered:$id was not pushed"
exists my-base && fail "the local base was pushed"
assert_eq "base" "$(run_field "$id" '[.dependencies[]["runtime-dependency"].repository // empty] | unique | join(" ")')" \
  "the run's base images: the local base's own base, not the local base"

log "build, run the app detached, test it by step id, push only when the tests pass"
task webtest <<'EOF'
version: v1.1.0
steps:
  - id: build-web
    build: -t $Registry/web:$ID -f web.Dockerfile .
  - id: webapp
    cmd: $Registry/web:$ID
    detach: true
  - id: test
    cmd: $Registry/base:1 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do busybox wget -q -O- http://webapp:8080/index.html && exit 0; sleep 0.2; done; exit 1'
  - id: push
    push: ["$Registry/web:$ID"]
EOF
dockerfile "$WORK/webtest/web.Dockerfile" <<'EOF'
FROM @REG@/base:1
RUN mkdir /www && echo hello-from-webapp >/www/index.html
CMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
EOF
id=$(run_ok webtest)
assert_contains "$(cat "$WORK/webtest.log")" "hello-from-webapp" "the test step reached the detached app"
exists "web:$id" || fail "web:$id was not pushed after the tests passed"
# The same with a failing test: nothing is pushed.
sed -i 's|/index.html && exit 0|/missing.html \&\& exit 0|' "$WORK/webtest/task.yaml"
before=$(run_count)
run_fails webtest "failed to run step ID: test"
id=$(drydock run list --top 1 -o json | jq -r '.[0].runId')
assert_eq "$((before + 1))" "$(run_count)" "one more run"
assert_eq Failed "$(run_field "$id" .status)" "status after a failed test"
exists "web:$id" && fail "web:$id was pushed although its test failed"
assert_not_contains "$(cat "$WORK/webtest.log")" "Step ID: push marked" "push step after a failed test"

log "parallel builds with when: [\"-\"], then a step waiting for both"
task parallel <<'EOF'
version: v1.1.0
steps:
  - id: a
    build: -t $Registry/par-a:$ID -f a.Dockerfile .
    when: ["-"]
  - id: b
    build: -t $Registry/par-b:$ID -f b.Dockerfile .
    when: ["-"]
  - id: both
    cmd: $Registry/par-a:$ID sh -c 'cat /a.txt'
    when: [a, b]
  - push: ["$Registry/par-a:$ID", "$Registry/par-b:$ID"]
    when: [both]
EOF
for x in a b; do
  dockerfile "$WORK/parallel/$x.Dockerfile" <<EOF
FROM @REG@/base:1
RUN sleep 2 && echo built-$x >/$x.txt
EOF
done
start=$(date +%s.%N)
id=$(run_ok parallel)
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
assert_contains "$(cat "$WORK/parallel.log")" "built-a" "the waiting step ran after both builds"
exists "par-a:$id" && exists "par-b:$id" || fail "parallel images not pushed"
# Both builds' RUN sleep 2 overlapped: the log shows b starting before a finished.
a_done=$(grep -n "Step ID: a marked" "$WORK/parallel.log" | cut -d: -f1)
b_start=$(grep -n "Executing step ID: b\\. " "$WORK/parallel.log" | cut -d: -f1)
[ "$b_start" -lt "$a_done" ] || fail "step b started only after a finished (took $took s)"
ok "parallel steps overlapped ($took s)"

log "retries that succeed on the second attempt; ignoreErrors"
task retry <<'EOF'
version: v1.1.0
steps:
  - cmd: $Registry/base:1 sh -c 'test -f /workspace/tried || { touch /workspace/tried; echo first-attempt-fails; exit 1; }'
    retries: 2
    retryDelay: 1
  - id: ignored
    cmd: $Registry/base:1 sh -c 'exit 3'
    ignoreErrors: true
  - cmd: $Registry/base:1 echo after-ignored
EOF
id=$(run_ok retry)
log_text=$(cat "$WORK/retry.log")
assert_contains "$log_text" "first-attempt-fails" "first attempt"
assert_contains "$log_text" "attempt 2 of 3" "retry line"
assert_contains "$log_text" "Step ID: acb_step_0 marked as successful" "retried step"
assert_contains "$log_text" "after-ignored" "step after an ignored failure"
assert_eq Succeeded "$(run_field "$id" .status)" "status with an ignored failure"
[ -f "$WORK/retry/tried" ] && fail "the workspace on the server changed the client's directory"
ok "workspace changes stay on the server"

log "a step timeout kills the container, and the run leaves nothing behind"
# Numbers of this test's own, so that pgrep never sees another test's processes.
nap=$((100000 + RANDOM)) web_port=$((20000 + RANDOM % 10000))
task timeout <<EOF
version: v1.1.0
steps:
  - id: web
    cmd: \$Registry/base:1 sh -c 'echo web-started; exec busybox httpd -f -p $web_port'
    detach: true
  - id: slow
    cmd: \$Registry/base:1 sh -c 'echo slow-started; exec sleep $nap'
    timeout: 5
EOF
start=$(date +%s)
run_fails timeout "timed out after 5 seconds"
took=$(($(date +%s) - start))
[ "$took" -lt 60 ] || fail "the timed-out run took $took s"
id=$(drydock run list --top 1 -o json | jq -r '.[0].runId')
assert_eq Failed "$(run_field "$id" .status)" "status after a step timeout"
# Both containers did run (so their absence below means something) ...
assert_contains "$(cat "$WORK/timeout.log")" "slow-started" "the slow step ran until its timeout"
assert_contains "$(cat "$WORK/timeout.log")" "web-started" "the detached step ran"
# ... and are gone once the run has ended.
gone() {
  for _ in $(seq 1 50); do
    pgrep -f "$1" >/dev/null || return 0
    sleep 0.1
  done
  return 1
}
gone "sleep $nap" || fail "the timed-out container's process is still running"
gone "httpd -f -p $web_port" || fail "the detached container is still running"
grep -q "$DATA" /proc/mounts && fail "mounts left under $DATA: $(grep "$DATA" /proc/mounts | head -n 3)"
[ -z "$(ls -A "$DATA/runs")" ] || fail "run work dirs left: $(ls "$DATA/runs")"
[ -z "$(find "$DATA" -name 'state' -path '*steps*' 2>/dev/null)" ] || fail "runc state left"
ok "no process, mount, netns or work dir left after the timeout"

log "secrets never reach the log or the run record"
task secret <<'EOF'
version: v1.1.0
steps:
  - cmd: $Registry/base:1 sh -c 'echo value={{.Values.pw}} secret={{.Secrets.pw}} len=$(echo -n {{.Values.pw}} | busybox wc -c)'
EOF
id=$(run_ok secret --set-secret pw=s3cr3t-XyZ-42)
drydock run logs "$id" >"$WORK/secret.fulllog"
assert_not_contains "$(cat "$WORK/secret.log" "$WORK/secret.fulllog")" "s3cr3t-XyZ-42" "log"
assert_contains "$(cat "$WORK/secret.fulllog")" "value=*** secret=***" "masked log"
assert_contains "$(cat "$WORK/secret.fulllog")" "len=13" "the step got the value"
assert_not_contains "$(drydock run show "$id")" "s3cr3t-XyZ-42" "run record"
# A Key Vault secret: no vault here, so its value must be given.
task vault <<'EOF2'
version: v1.1.0
secrets:
  - id: dbpass
    keyvault: https://vault.example.com/secrets/dbpass
steps:
  - cmd: $Registry/base:1 sh -c 'test "{{.Secrets.dbpass}}" = "vault-Value-9" && echo vault-secret-ok'
EOF2
run_fails vault "secret 'dbpass' has no value"
run_ok vault --set-secret dbpass=vault-Value-9 >/dev/null
assert_contains "$(cat "$WORK/vault.log")" "vault-secret-ok" "a Key Vault secret given with --set-secret"

log "\$aliases (custom and the server's image alias) and .Values, from --values and --set"
task alias <<'EOF'
version: v1.1.0
alias:
  values:
    greet: hello
    img: '{{.Run.Registry}}/base:1'
steps:
  - cmd: $img echo $greet {{.Values.who}} {{.Values.deep.x | upper}} run=$ID
  - cmd: bash sh -c 'echo alias-image-$(busybox tail -n 1 /etc/drydock-test)'
  - cmd: $bash echo $$literal
    env: ["A=1,2", "B=x"]
  - cmd: $img sh -c 'echo A=$A B=$B'
    env: ["A=1,2"]
EOF
printf 'who: nobody\ndeep:\n  x: lower\n' >"$WORK/alias/values.yaml"
id=$(run_ok alias --values "$WORK/alias/values.yaml" --set who=world)
log_text=$(cat "$WORK/alias.log")
assert_contains "$log_text" "hello world LOWER run=$id" "custom alias, values, --set wins"
assert_contains "$log_text" "alias-image-tools" "the server's image alias as a cmd's image"
assert_contains "$log_text" '$literal' "\$\$ escape"
assert_contains "$log_text" "A=1,2 B=" "env value with a comma kept whole"

log "--cmd, -f - and /dev/null"
out=$(drydock run --cmd "$REG/base:1 echo from-cmd" /dev/null 2>&1) || fail "run --cmd: $out"
assert_contains "$out" "from-cmd" "--cmd output"
out=$(printf 'steps:\n  - cmd: %s/base:1 echo from-stdin\n' "$REG" | drydock run -f - /dev/null 2>&1) ||
  fail "run -f -: $out"
assert_contains "$out" "from-stdin" "-f - output"

log "--dry-run prints the step graph and runs nothing"
before=$(run_count)
out=$(drydock run -f "$WORK/webtest/task.yaml" --dry-run "$WORK/webtest" 2>&1) || fail "dry run: $out"
assert_contains "$out" "webapp" "dry run lists the steps"
assert_eq "$before" "$(run_count)" "runs after --dry-run"

log "secret volumes, user names and privileged steps"
task props <<'EOF'
version: v1.1.0
volumes:
  - name: creds
    secret:
      token.txt: {{ "volume-content" | b64enc }}
steps:
  - build: -t props-img -f props.Dockerfile .
  - cmd: props-img sh -c 'cat /run/creds/token.txt; echo; echo uid=$(id -u) gid=$(id -g)'
    user: app
    volumeMounts:
      - name: creds
        mountPath: /run/creds
  - cmd: props-img sh -c 'busybox mount -t tmpfs none /mnt && echo privileged-mount-ok'
    privileged: true
  - cmd: props-img sh -c 'busybox mount -t tmpfs none /mnt || echo unprivileged-mount-refused'
EOF
dockerfile "$WORK/props/props.Dockerfile" <<'EOF'
FROM @REG@/base:1
RUN echo 'app:x:1234:2345::/:/bin/sh' >>/etc/passwd && mkdir /mnt
EOF
run_ok props >/dev/null
log_text=$(cat "$WORK/props.log")
assert_contains "$log_text" "volume-content" "secret volume file"
assert_contains "$log_text" "uid=1234 gid=2345" "user name from the image's /etc/passwd"
assert_contains "$log_text" "privileged-mount-ok" "privileged step"
assert_contains "$log_text" "unprivileged-mount-refused" "unprivileged step"

log "bad input: the error names the line, and nothing runs"
before=$(run_count)
task bad <<'EOF'
steps:
  - cmd: x
   bad: indentation
EOF
run_fails bad "task.yaml:3:" && ok "syntax error with a line"
task bad <<'EOF'
steps:
  - cmd: busybox
    retires: 2
EOF
run_fails bad "retires" && ok "unknown property named"
task bad <<'EOF'
steps:
  - id: first
    cmd: busybox
    when: [later]
  - id: later
    cmd: busybox
EOF
run_fails bad "later" && ok "when naming a later step"
task bad <<'EOF'
steps:
  - cmd: busybox {{ .Values.x | nosuchfunc }}
EOF
run_fails bad "nosuchfunc" && ok "template error"
assert_eq "$before" "$(run_count)" "runs after bad input"

log "a task created from a task YAML is rebuilt when its base image is updated"
SRC="$WORK/tsrc"
g() { git -C "$SRC" -c user.email=t@example.com -c user.name=t "$@"; }
git init -q -b main "$SRC"
printf 'version: v1.1.0\nsteps:\n  - build: -t $Registry/msapp:$ID -t $Registry/msapp:latest .\n  - push: ["$Registry/msapp:$ID", "$Registry/msapp:latest"]\n' >"$SRC/acb.yaml"
printf 'FROM %s/base:1\nCOPY app.txt /app.txt\n' "$REG" >"$SRC/Dockerfile"
echo ms >"$SRC/app.txt"
g add -A
g commit -q -m init
GIT_PORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK" --listen=127.0.0.1 --port="$GIT_PORT" "$WORK" \
  >"$WORK/git-daemon.log" 2>&1 &
BG_PIDS+=($!)
wait_port "$GIT_PORT" "git daemon"
drydock task create -n ms -f acb.yaml -c "git://127.0.0.1:$GIT_PORT/tsrc" --commit-trigger-enabled false \
  >"$WORK/ms-create.out" 2>&1 || { cat "$WORK/ms-create.out" >&2; fail "task create -f acb.yaml"; }
drydock task run -n ms >"$WORK/ms-run1.log" 2>&1 || { tail -n 20 "$WORK/ms-run1.log" >&2; fail "task run ms"; }
first=$(drydock run list --task ms -o json | jq -r '.[0].runId')
assert_eq AutoRun "$(run_field "$first" .runType)" "run type of a task YAML"
exists "msapp:$first" || fail "msapp:$first was not pushed"
push_base base:1 v2
for _ in $(seq 1 100); do
  [ "$(drydock run list --task ms -o json | jq length)" -ge 2 ] && break
  sleep 0.2
done
second=$(drydock run list --task ms -o json | jq -r '.[0].runId')
assert_ne "$first" "$second" "a run queued by the base image update"
for _ in $(seq 1 300); do
  status=$(run_field "$second" .status)
  case $status in Queued | Started | Running) sleep 0.2 ;; *) break ;; esac
done
assert_eq Succeeded "$status" "status of the triggered run"
assert_eq "Image Update" "$(run_field "$second" .trigger)" "trigger"
exists "msapp:$second" || fail "msapp:$second was not pushed"

log "a task file sent with the task (-c /dev/null), run with --set and --set-secret"
printf 'steps:\n  - cmd: %s/base:1 echo greeting={{.Values.greeting}} pw={{.Values.pw}}\n' "$REG" >"$WORK/saved.yaml"
drydock task create -n saved -f "$WORK/saved.yaml" -c /dev/null >/dev/null 2>&1 || fail "task create -c /dev/null"
drydock task run -n saved --set greeting=hi --set-secret pw=Task-Secret-77 >"$WORK/saved.log" 2>&1 ||
  { tail -n 20 "$WORK/saved.log" >&2; fail "task run saved"; }
assert_contains "$(cat "$WORK/saved.log")" "greeting=hi pw=***" "a saved task file's run"
saved_id=$(drydock run list --task saved -o json | jq -r '.[0].runId')
assert_not_contains "$(drydock run logs "$saved_id"; drydock run show "$saved_id"; drydock task show -n saved)" \
  "Task-Secret-77" "the secret value anywhere"

log "a server killed mid-run: the next start ends the run and releases its containers and mounts"
# Numbers of this test's own, so that pgrep never sees another test's processes.
nap=$((100000 + RANDOM)) svc_port=$((20000 + RANDOM % 10000))
printf 'steps:\n  - id: svc\n    cmd: %s/base:1 busybox httpd -f -p %s\n    detach: true\n  - cmd: %s/base:1 sleep %s\n' \
  "$REG" "$svc_port" "$REG" "$nap" >"$WORK/crash.yaml"
id=$(drydock run -f "$WORK/crash.yaml" --no-wait /dev/null 2>/dev/null)
for _ in $(seq 1 100); do
  pgrep -f "sleep $nap" >/dev/null && break
  sleep 0.1
done
pgrep -f "sleep $nap" >/dev/null || fail "the step never started"
grep -q "$DATA/runs" /proc/mounts || fail "no mounts under $DATA/runs while the run runs"
kill9_server
pgrep -f "sleep $nap" >/dev/null || fail "the container died with the server (nothing left to test)"
start_server --config "$WORK/drydock.yaml"
assert_eq Error "$(run_field "$id" .status)" "status of the interrupted run"
assert_contains "$(run_field "$id" .runErrorMessage)" "on attempt 1 of 1" "its error says the agent was lost"
pgrep -f "sleep $nap" >/dev/null && fail "the interrupted run's container still runs"
pgrep -f "httpd -f -p $svc_port" >/dev/null && fail "the interrupted run's detached container still runs"
grep -q "$DATA/runs" /proc/mounts && fail "mounts left under $DATA/runs: $(grep "$DATA/runs" /proc/mounts | head -n 3)"
[ -z "$(ls -A "$DATA/runs")" ] || fail "run work dirs left: $(ls "$DATA/runs")"
ok "nothing of the killed server's run is left"

stop_server
