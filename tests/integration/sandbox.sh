#!/usr/bin/env bash
# The build sandbox end to end: server builds under small builds.limits. A
# fork bomb, a memory hog and a disk filler each fail only their own run,
# naming the limit, and the next build still works; a RUN reaches neither
# the server's port nor anything else on the host's loopback; RUN
# --network=host is refused unless the owner allows privileged steps; the
# server fetches no context URL or ADD <url> from loopback. Every
# probe is bounded: the limits are proven by the first runs before the fork
# bomb starts.
. "$(dirname "$0")/lib.sh"

export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN
cat >"$WORK/drydock.yaml" <<EOF
builds:
  concurrency: 1
  limits: {pids: 64, memory: 96Mi, disk: 48Mi}
EOF
start_server --config "$WORK/drydock.yaml"
client_login
push_base base:1 v1

# qb NAME [drydock build args...]: a server build of the context $WORK/NAME;
# output in $WORK/NAME.out, exit status in $QB_RC.
qb() {
  local name=$1
  shift
  QB_RC=0
  timeout 120 "$DRYDOCK_BIN" build "$@" "$WORK/$name" >"$WORK/$name.out" 2>&1 || QB_RC=$?
}
ctx() { dockerfile "$WORK/$1/Dockerfile"; }

log "the pids limit is in force before anything forks without bound"
ctx pids <<EOF
FROM @REG@/base:1
RUN for i in \$(seq 1 100); do sleep 30 & done; wait
EOF
qb pids
assert_ne 0 "$QB_RC" "a RUN starting 100 processes under a limit of 64"
assert_contains "$(cat "$WORK/pids.out")" "the build reached its limit of 64 processes" "pids limit named"

log "a fork bomb fails only its own build, within seconds"
ctx bomb <<EOF
FROM @REG@/base:1
RUN b(){ b|b& }; b; sleep 30
EOF
T=$(date +%s)
qb bomb
assert_ne 0 "$QB_RC" "fork bomb build"
assert_contains "$(cat "$WORK/bomb.out")" "its limit of 64 processes" "fork bomb stopped at the limit"
[ $(($(date +%s) - T)) -lt 60 ] || fail "the fork bomb ran for $(($(date +%s) - T)) s"
ok "fork bomb stopped after $(($(date +%s) - T)) s"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" "server healthy after the fork bomb"

log "a memory hog is stopped at the memory limit"
ctx hog <<EOF
FROM @REG@/base:1
RUN x=\$(head -c 300000000 /dev/zero | tr '\\0' a); echo \${#x}
EOF
qb hog
assert_ne 0 "$QB_RC" "memory hog build"
assert_contains "$(cat "$WORK/hog.out")" "the build reached its memory limit of 96 MiB" "memory limit named"

log "a disk filler is stopped at the disk limit"
ctx filler <<EOF
FROM @REG@/base:1
RUN dd if=/dev/zero of=/big bs=1M count=200; sleep 5
EOF
qb filler
assert_ne 0 "$QB_RC" "disk filler build"
assert_contains "$(cat "$WORK/filler.out")" "the build reached its disk limit of 48 MiB" "disk limit named"
[ "$(du -sm "$DATA" | cut -f1)" -lt 400 ] || fail "the data directory grew to $(du -sm "$DATA" | cut -f1) MiB"

log "a RUN reaches neither the server nor other loopback services of the host"
SECRET_PORT=$(free_port)
mkdir -p "$WORK/www" && echo "loopback secret" >"$WORK/www/index.html"
busybox httpd -f -p "127.0.0.1:$SECRET_PORT" -h "$WORK/www" &
HTTPD=$!
wait_port "$SECRET_PORT"
assert_eq "loopback secret" "$(curl -s "http://127.0.0.1:$SECRET_PORT/")" "the secret is served on the host's loopback"
ctx net <<EOF
FROM @REG@/base:1
RUN for a in 127.0.0.1:$SECRET_PORT 10.0.2.2:$SECRET_PORT 127.0.0.1:$PORT 10.0.2.2:$PORT; do \
      timeout 3 wget -q -O - http://\$a/ 2>/dev/null && echo "REACHED \$a"; done; echo probes done
EOF
qb net -t net:1
NET_RC=$QB_RC

log "the server itself fetches nothing from loopback for a build (builds.allow_private_fetches)"
ctx addurl <<EOF
FROM @REG@/base:1
ADD http://127.0.0.1:$SECRET_PORT/index.html /secret
EOF
qb addurl
assert_ne 0 "$QB_RC" "ADD of a loopback URL in a server build"
assert_contains "$(cat "$WORK/addurl.out")" "resolves to 127.0.0.1" "the address is named"
assert_contains "$(cat "$WORK/addurl.out")" "builds.allow_private_fetches" "the setting is named"
tar -czf "$WORK/www/ctx.tar.gz" -C "$WORK/addurl" Dockerfile
URL_RC=0
timeout 60 "$DRYDOCK_BIN" build "http://localhost:$SECRET_PORT/ctx.tar.gz" >"$WORK/ctxurl.out" 2>&1 ||
  URL_RC=$?
assert_ne 0 "$URL_RC" "a context URL on loopback"
assert_contains "$(cat "$WORK/ctxurl.out")" "builds.allow_private_fetches" "the setting is named"
assert_not_contains "$(cat "$WORK/ctxurl.out")" "Downloaded" "nothing was downloaded"
kill "$HTTPD" 2>/dev/null || true
assert_eq 0 "$NET_RC" "network probe build"
assert_contains "$(cat "$WORK/net.out")" "probes done" "probes ran"
# "REACHED $a" is in the echoed RUN line itself; a reached address would print "REACHED 1…".
assert_not_contains "$(cat "$WORK/net.out")" "REACHED 1" "host loopback from a RUN"
assert_not_contains "$(cat "$WORK/net.out")" "loopback secret" "host loopback from a RUN"

log "RUN --network=host needs builds.allow_privileged_steps"
ctx hostnet <<EOF
FROM @REG@/base:1
RUN --network=host true
EOF
qb hostnet
assert_ne 0 "$QB_RC" "RUN --network=host on a server without privileged steps"
assert_contains "$(cat "$WORK/hostnet.out")" "allow_privileged_steps" "the setting is named"

log "after all that, a normal build still succeeds"
ctx fine <<EOF
FROM @REG@/base:1
RUN echo fine >/fine && ls / >/dev/null
EOF
qb fine -t fine:1
assert_eq 0 "$QB_RC" "normal build after the limits ($(tail -n 5 "$WORK/fine.out"))"
stop_server
