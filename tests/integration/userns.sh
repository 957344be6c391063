#!/usr/bin/env bash
# builds.user_namespace end to end: a server whose build containers run in a
# user namespace (container root is host id 100000). A data directory the
# containers cannot reach is refused at start with its name. RUN steps see
# the mapping, write files that land in the image with the owners they saw
# (root, 1000), read a 0600 context file through a bind mount, write a cache
# mount, bind a stage read-only and read-write, and run with the default
# network and with none; a task's cmd step runs mapped and writes the
# workspace, while the images it builds are the same as without; a task's
# rebase verification runs mapped.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN
cat >"$WORK/drydock.yaml" <<EOF
builds:
  concurrency: 1
  user_namespace: true
  allow_private_fetches: true  # a task's context is served on loopback
EOF

log "a data directory host id 100000 cannot pass is refused at start, by name"
START_RC=0
DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" timeout 30 "$DRYDOCK_BIN" serve --data "$WORK/data" \
  --listen 127.0.0.1:0 --config "$WORK/drydock.yaml" >"$WORK/refused.log" 2>&1 || START_RC=$?
assert_eq 1 "$START_RC" "serve with $WORK at mode 0700"
assert_contains "$(cat "$WORK/refused.log")" "builds.user_namespace" "the setting is named"
assert_contains "$(cat "$WORK/refused.log")" "$WORK is not searchable by others" "the directory is named"

log "a value that is neither true, false nor HOST_ID:SIZE is refused"
printf 'builds:\n  user_namespace: lots\n' >"$WORK/bad.yaml"
START_RC=0
DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" timeout 30 "$DRYDOCK_BIN" serve --data "$WORK/data" \
  --listen 127.0.0.1:0 --config "$WORK/bad.yaml" >"$WORK/bad.log" 2>&1 || START_RC=$?
assert_ne 0 "$START_RC" "serve with user_namespace: lots"
assert_contains "$(cat "$WORK/bad.log")" "builds.user_namespace must be true, false or HOST_ID:SIZE" "the value is refused"

chmod 711 "$WORK"
start_server --config "$WORK/drydock.yaml"
assert_contains "$(cat "$SERVER_LOG")" "root is host id 100000" "the server says so"
client_login
push_base base:1 v1

log "RUN steps run mapped; the image holds the owners they saw"
mkdir -p "$WORK/app"
echo "context secret" >"$WORK/app/private"
chmod 600 "$WORK/app/private"
dockerfile "$WORK/app/Dockerfile" <<EOF
FROM @REG@/base:1 AS tools
RUN echo tool >/tool && busybox chmod 600 /tool

FROM @REG@/base:1
RUN echo \$(cat /proc/self/uid_map) >/uid_map && echo root >/by-root && \
    busybox mkdir /app && echo app >/app/owned && busybox chown 1000:1000 /app/owned
RUN --network=none echo \$(cat /proc/self/uid_map) >/uid_map_none
RUN --mount=type=bind,source=private,target=/ctx cat /ctx >/from-context
RUN --mount=type=cache,target=/cache echo x >/cache/x && echo cached >/cached
RUN --mount=type=bind,from=tools,target=/t cat /t/tool >/from-stage
RUN --mount=type=bind,from=tools,target=/t,rw echo scratch >/t/new && cat /t/new >/rw-stage
WORKDIR /work/dir
RUN pwd >here && busybox stat -c %u:%g . >owner
EOF
BUILD_RC=0
timeout 300 "$DRYDOCK_BIN" build -t app:1 "$WORK/app" >"$WORK/app.out" 2>&1 || BUILD_RC=$?
assert_eq 0 "$BUILD_RC" "the build ($(tail -n 8 "$WORK/app.out"))"
rootfs app:1 "$WORK/app-root"
R="$WORK/app-root"
assert_eq "0 100000 65536" "$(cat "$R/uid_map")" "a RUN's uid map"
assert_eq "0 100000 65536" "$(cat "$R/uid_map_none")" "a RUN --network=none's uid map"
assert_eq "0:0" "$(stat -c %u:%g "$R/by-root")" "a file the RUN's root wrote"
assert_eq "1000:1000" "$(stat -c %u:%g "$R/app/owned")" "a file chowned to 1000"
assert_eq "context secret" "$(cat "$R/from-context")" "a 0600 context file through a bind"
assert_eq "cached" "$(cat "$R/cached")" "a cache mount written"
assert_eq "tool" "$(cat "$R/from-stage")" "a 0600 file of a stage through a bind"
assert_eq "scratch" "$(cat "$R/rw-stage")" "a read-write bind of a stage"
assert_eq "/work/dir" "$(cat "$R/work/dir/here")" "WORKDIR"
assert_eq "0:0" "$(cat "$R/work/dir/owner")" "WORKDIR's owner inside"
assert_eq "0:0" "$(stat -c %u:%g "$R/work/dir")" "WORKDIR's owner in the image"
[ ! -e "$R/proc/self" ] || fail "runc's mount points are in the image"
[ ! -e "$R/t" ] && [ ! -e "$R/ctx" ] && [ ! -e "$R/cache" ] || fail "mount points are in the image"
ok "no mount points in the image"
CACHE_FILES=$(find "$DATA/build/cache-mounts" -name x -printf '%u\n')
assert_eq "root" "$CACHE_FILES" "the cache mount's file on the host belongs to root on disk"

log "a task's cmd step runs mapped and writes the workspace"
mkdir -p "$WORK/task"
cat >"$WORK/task/task.yaml" <<EOF
version: v1.1.0
steps:
  - cmd: $REG/base:1 sh -c 'echo \$(cat /proc/self/uid_map) >mapped && cat mapped'
EOF
RUN_RC=0
timeout 300 "$DRYDOCK_BIN" run -f "$WORK/task/task.yaml" "$WORK/task" >"$WORK/task.out" 2>&1 || RUN_RC=$?
assert_eq 0 "$RUN_RC" "the task run ($(tail -n 8 "$WORK/task.out"))"
assert_contains "$(cat "$WORK/task.out")" "0 100000 65536" "the cmd step's uid map"

log "a task's rebase verification (--patch-verify) runs mapped"
serve_www
mkdir -p "$WORK/copy"
echo hello >"$WORK/copy/hello.txt"
printf 'FROM @REG@/base:1\nCOPY hello.txt /hello.txt\n' | dockerfile "$WORK/copy/Dockerfile"
tar -czf "$WORK/www/copy.tar.gz" -C "$WORK/copy" .
drydock task create -n copy -c "$WWW_URL/copy.tar.gz" -t rb/copy:1 \
  --patch-verify 'echo mapped $(cat /proc/self/uid_map) && test "$(cat /hello.txt)" = hello' >/dev/null
drydock task run -n copy >"$WORK/copy1.out" 2>&1 || { tail -n 8 "$WORK/copy1.out" >&2; fail "task run copy"; }
push_base base:1 v2
wait_count copy 2 120
wait_idle 300
all_succeeded copy
RUN=$(newest_run copy)
assert_eq "rebase " "$(run_field "$RUN" '"\(.patch.kind) \(.patch.reasons // [] | join("; "))"')" "the task was rebased"
drydock run logs "$RUN" >"$WORK/copy2.log" 2>&1 || true
assert_contains "$(cat "$WORK/copy2.log")" "mapped 0 100000 65536" "the verification ran in the user namespace"
assert_eq v2 "$(file_in rb/copy:1 etc/drydock-test | sed -n 3p)" "rb/copy:1 on base v2"
stop_server
