#!/usr/bin/env bash
# Scale-out (issue 14): scripts/start-cluster.sh brings up a real PostgreSQL,
# a real radosgw, two `drydock serve` replicas sharing them and one agent.
# Requests alternate between the replicas: skopeo pushes through one and
# pulls through the other; a chunked upload's PATCHes go to both; tags,
# deletes and the catalog agree; a base push through A queues its dependent
# task once, the agent builds it, and B serves the result and its log;
# online GC on a third replica while both take pushes loses nothing; kill -9
# of B during 20 concurrent pushes leaves every acknowledged push complete,
# and B restarts; PostgreSQL restarted under load costs only in-flight
# requests; a per-minute timer queues one run per occurrence, not one per replica.
. "$(dirname "$0")/lib.sh"

command -v radosgw >/dev/null || { skip "radosgw is not installed (scripts/install-deps.sh)"; exit 0; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || fail "PostgreSQL is not installed (scripts/install-deps.sh)"
command -v skopeo >/dev/null || fail "skopeo is not installed (scripts/install-deps.sh)"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

log "start-cluster.sh: PostgreSQL, radosgw, two replicas, one agent"
CLUSTER_ENV=$(DRYDOCK_BIN="$DRYDOCK_BIN" DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" \
  "$ROOT/scripts/start-cluster.sh" --replicas 2 --agents 1 --allow-private-fetches 2>"$WORK/start-cluster.log") ||
  { cat "$WORK/start-cluster.log" >&2; fail "start-cluster.sh"; }
eval "$CLUSTER_ENV"
# Sanitizer reports in any replica's or the agent's log fail the test.
# (stop-cluster.sh copies the logs once the processes have exited.)
stop_cluster() { CLUSTER_LOGS_TO=$WORK "$ROOT/scripts/stop-cluster.sh" "$CLUSTER_DIR"; }
trap 'rc=$?; set +e; stop_cluster; (exit $rc); cleanup' EXIT  # set +e: (exit 1) must not end the trap before cleanup
read -r A_URL B_URL <<<"$CLUSTER_URLS"
A=${A_URL#http://}
B=${B_URL#http://}
ADMIN=(-u "admin:$ADMIN_PASS")
ok "replicas at $A_URL and $B_URL"
assert_eq 0 "$(find "$CLUSTER_DIR"/replica-* -name drydock.db | wc -l)" "no replica keeps a SQLite database"

pid_of_replica() { sed -n "${1}p" "$CLUSTER_DIR/pids"; }

log "drydock migrate; a password in storage.metadata or a newer schema is refused"
out=$(. "$CLUSTER_DIR/s3.env" && drydock migrate --config "$CLUSTER_DIR/config.yaml" --data "$WORK/m" 2>&1) ||
  fail "drydock migrate: $out"
assert_contains "$out" "metadata schema is up to date (PostgreSQL)" "drydock migrate"
printf 'storage:\n  metadata: postgres://drydock:hunter2@db.example.com/drydock\n' >"$WORK/pw.yaml"
out=$(drydock migrate --config "$WORK/pw.yaml" --data "$WORK/m" 2>&1) && fail "a password in the URL was accepted"
assert_contains "$out" "passwords are not read from the configuration file" "the refusal"
assert_not_contains "$out" "hunter2" "the refusal"
psql "$PG_URL" -qc 'UPDATE drydock_schema SET version = version + 1' || fail "psql"
out=$(. "$CLUSTER_DIR/s3.env" && drydock migrate --config "$CLUSTER_DIR/config.yaml" --data "$WORK/m" 2>&1) &&
  fail "a newer schema was accepted"
assert_contains "$out" "newer than this drydock understands" "a newer schema"
psql "$PG_URL" -qc 'UPDATE drydock_schema SET version = version - 1' || fail "psql"

log "skopeo pushes through A and pulls through B"
D=$(make_busybox_layout "$WORK/src" v1 "cluster image")
REG=$A push_layout "$WORK/src" v1 cl/busybox:v1
skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$B/cl/busybox:v1" \
  "oci:$WORK/out:v1" >"$WORK/pull.out" 2>&1 || { cat "$WORK/pull.out" >&2; fail "pull through B"; }
assert_eq "$D" "$(layout_digest "$WORK/out" v1)" "B serves the manifest A took"
for blob in $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$WORK/src" "$D")"); do
  assert_same_bytes "$(layout_blob "$WORK/src" "$blob")" "$(layout_blob "$WORK/out" "$blob")" "blob $blob through B"
done

log "buildah pushes through B, podman pulls through A"
CREDS=(--creds "admin:$ADMIN_PASS" --tls-verify=false)
buildah pull -q "${CREDS[@]}" "$A/cl/busybox:v1" >"$WORK/bp.out" 2>&1 || { cat "$WORK/bp.out" >&2; fail "buildah pull through A"; }
buildah push -q "${CREDS[@]}" --format docker --digestfile "$WORK/bd.digest" "$A/cl/busybox:v1" \
  "docker://$B/cl/buildah:docker" >"$WORK/bp.out" 2>&1 || { cat "$WORK/bp.out" >&2; fail "buildah push through B"; }
assert_eq "$(cat "$WORK/bd.digest")" \
  "$(curl -sS -o /dev/null -D - "${ADMIN[@]}" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$A_URL/v2/cl/buildah/manifests/docker" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')" \
  "A serves what buildah pushed through B"
buildah rmi --all --force >/dev/null 2>&1 || true # podman shares the storage: start empty
podman pull -q "${CREDS[@]}" "$A/cl/buildah:docker" >"$WORK/pp.out" 2>&1 || { cat "$WORK/pp.out" >&2; fail "podman pull through A"; }
assert_eq "$(cat "$WORK/bd.digest")" "$(podman image inspect --format '{{.Digest}}' "$A/cl/buildah:docker")" \
  "podman pulled the same digest"

log "a chunked upload started on A, continued on B and A, committed on B"
CHUNKS=()
for n in 1 2 3; do
  head -c $((n * (1 << 20) + 77)) /dev/urandom >"$WORK/c$n"
  CHUNKS+=("$WORK/c$n")
done
cat "${CHUNKS[@]}" >"$WORK/chunked"
CDIG="sha256:$(sha256_of "$WORK/chunked")"
loc=$(curl -sS -o /dev/null -D - -X POST "${ADMIN[@]}" "$A_URL/v2/cl/chunked/blobs/uploads/" |
  tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
[ -n "$loc" ] || fail "POST on A gave no Location"
patch_chunks "$loc" "${CHUNKS[0]}@$B_URL" "${CHUNKS[1]}@$A_URL" "${CHUNKS[2]}@$B_URL"
code=$(curl -sS -o "$WORK/put.body" -w '%{http_code}' -X PUT "${ADMIN[@]}" "$B_URL$loc?digest=$CDIG")
assert_eq 201 "$code" "committed on B ($(cat "$WORK/put.body"))"
curl -sS "${ADMIN[@]}" -o "$WORK/chunked.got" "$A_URL/v2/cl/chunked/blobs/$CDIG"
assert_same_bytes "$WORK/chunked" "$WORK/chunked.got" "A serves the blob B committed"

log "tags, deletes and the catalog agree across replicas"
skopeo copy -q --src-creds "admin:$ADMIN_PASS" --dest-creds "admin:$ADMIN_PASS" --src-tls-verify=false \
  --dest-tls-verify=false "docker://$A/cl/busybox:v1" "docker://$B/cl/busybox:v2" >/dev/null 2>&1 ||
  fail "retag through B"
assert_eq '["v1","v2"]' "$(curl -sS "${ADMIN[@]}" "$A_URL/v2/cl/busybox/tags/list" | jq -c .tags)" "A lists B's tag"
assert_contains "$(curl -sS "${ADMIN[@]}" "$B_URL/v2/_catalog" | jq -c .repositories)" '"cl/busybox"' "B's catalog"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "${ADMIN[@]}" "$B_URL/v2/cl/busybox/manifests/v2")
assert_eq 202 "$code" "tag deleted through B"
code=$(curl -sS -o /dev/null -w '%{http_code}' "${ADMIN[@]}" "$A_URL/v2/cl/busybox/manifests/v2")
assert_eq 404 "$code" "A no longer has it"

log "a base push through A queues the dependent task once; the agent builds it; B serves it"
export XDG_CONFIG_HOME="$WORK/config"
printf '%s' "$ADMIN_PASS" | drydock login "$A" -u admin --password-stdin >/dev/null 2>&1 || fail "drydock login A"
REG=$A push_base base/os:1 one
mkdir -p "$WORK/www" "$WORK/ctx"
printf 'FROM %s/base/os:1\nRUN cat /etc/drydock-test > /built-on\n' "$A" >"$WORK/ctx/Dockerfile"
tar -czf "$WORK/www/ctx.tar.gz" -C "$WORK/ctx" .
serve_www
drydock task create -n app -c "$WWW_URL/ctx.tar.gz" -t app:1 >"$WORK/task.out" 2>&1 ||
  { cat "$WORK/task.out" >&2; fail "task create app"; }
drydock task run -n app >"$WORK/run1.out" 2>&1 || { tail -n 20 "$WORK/run1.out" >&2; fail "task run app"; }
# A timer every minute, checked at the end: both replicas run the timer clock.
mkdir -p "$WORK/tick"
printf 'FROM %s/cl/busybox:v1\nLABEL tick=1\n' "$A" >"$WORK/tick/Dockerfile"
tar -czf "$WORK/www/tick.tar.gz" -C "$WORK/tick" .
drydock task create -n ticker -c "$WWW_URL/tick.tar.gz" -t ticker:1 --schedule 'tick:* * * * *' \
  >"$WORK/ticker.out" 2>&1 || { cat "$WORK/ticker.out" >&2; fail "task create ticker"; }
assert_contains "$(cat "$WORK/run1.out")" "was successful" "the first build, on the agent, followed through A"
digest_on() { skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$1/app:1" | sha256sum | cut -d' ' -f1; }
APP1=$(digest_on "$B")
updates() { # updates URL: the task's Image Update runs as "id status agent" lines
  curl -sS "${ADMIN[@]}" "$1/api/v1/runs?task=app&top=50" |
    jq -r '.runs[] | select(.trigger == "Image Update") | "\(.runId) \(.status) \(.agent // "")"'
}
REG=$A push_base base/os:1 two
deadline=$((SECONDS + 180))
until updates "$B_URL" | grep -q Succeeded || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
sleep 3 # a duplicate would be queued by now (the other replica follows the same log)
UPDATES=$(updates "$B_URL")
assert_eq 1 "$(grep -c . <<<"$UPDATES")" "one run for the base update ($UPDATES)"
read -r NEWEST STATUS AGENT <<<"$UPDATES"
assert_eq "Succeeded agent-1" "$STATUS $AGENT" "built by the agent"
assert_ne "$APP1" "$(digest_on "$B")" "B serves the rebuilt app:1"
assert_contains "$(curl -sS "${ADMIN[@]}" "$B_URL/api/v1/runs/$NEWEST/log")" "Run ID: $NEWEST was successful" \
  "B serves the whole log of the run built by the agent"

log "online GC on a third replica (every second, 2 s grace) while A and B take pushes, some of the very blobs it deletes"
for o in orphan orphan2; do
  make_busybox_layout "$WORK/$o" v1 "orphaned image $o" >"$WORK/$o.digest"
  REG=$A push_layout "$WORK/$o" v1 "gc/$o:v1"
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "${ADMIN[@]}" "$B_URL/v2/gc/$o/manifests/$(cat "$WORK/$o.digest")")
  assert_eq 202 "$code" "gc/$o's manifest deleted through B: its own layer is garbage now"
done
sleep 3 # older than the grace period
verify_pull() { # verify_pull LAYOUT HOST REPO: pulls REPO:v1 through HOST, compares every blob
  local src=$1 d
  rm -rf "$WORK/q"
  skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$2/$3:v1" \
    "oci:$WORK/q:v1" >"$WORK/q.log" 2>&1 || { cat "$WORK/q.log" >&2; fail "acknowledged push $3 is not pullable"; }
  d=$(layout_digest "$src" v1)
  [ "$(layout_digest "$WORK/q" v1)" = "$d" ] || fail "$3: digest differs"
  for blob in $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$src" "$d")"); do
    cmp -s "$(layout_blob "$src" "$blob")" "$(layout_blob "$WORK/q" "$blob")" || fail "$3 blob $blob differs"
  done
}
# Replica C: the cluster's configuration with online GC every second.
cp "$CLUSTER_DIR/config.yaml" "$WORK/gc-replica.yaml"
printf 'gc:\n  interval_seconds: 1\n  grace_seconds: 2\n' >>"$WORK/gc-replica.yaml"
C_PORT=$(free_port)
(. "$CLUSTER_DIR/s3.env" && exec env DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" "$DRYDOCK_BIN" serve \
  --config "$WORK/gc-replica.yaml" --data "$WORK/replica-gc" --listen "127.0.0.1:$C_PORT" \
  >"$WORK/server.gc-replica.log" 2>&1) &
C_PID=$!
wait_port "$C_PORT" "replica C"
GC_PUSHES=()
for i in $(seq 1 8); do
  target=$A src="$WORK/orphan"
  [ $((i % 2)) = 0 ] && target=$B
  [ "$i" -gt 4 ] && { src="$WORK/g$i"; make_busybox_layout "$src" v1 "during gc $i" >/dev/null; }
  (skopeo copy -q --retry-times 3 --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false \
    "oci:$src:v1" "docker://$target/gc/again$i:v1" >"$WORK/g$i.log" 2>&1 && echo "$src" >"$WORK/g$i.acked") &
  GC_PUSHES+=($!)
done
for p in "${GC_PUSHES[@]}"; do wait "$p" || true; done
# orphan2's layer is nobody's: C must have collected it (and maybe orphan's).
GC_LINE='gc: [0-9]+ manifests, [0-9]+ links, [1-9][0-9]* blobs'
deadline=$((SECONDS + 30))
until grep -Eq "$GC_LINE" "$WORK/server.gc-replica.log" || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
grep -Eq "$GC_LINE" "$WORK/server.gc-replica.log" || fail "replica C's online GC collected nothing in 30 s"
ok "replica C: $(grep -Eo "$GC_LINE[^\"]*" "$WORK/server.gc-replica.log" | head -n 1)"
kill -TERM "$C_PID"
wait "$C_PID" || fail "replica C exited with status $? after SIGTERM"
GC_ACKED=0
for i in $(seq 1 8); do
  [ -f "$WORK/g$i.acked" ] || { log "push $i during gc not acknowledged: $(tail -n 1 "$WORK/g$i.log")"; continue; }
  GC_ACKED=$((GC_ACKED + 1))
  verify_pull "$(cat "$WORK/g$i.acked")" "$B" "gc/again$i"
done
[ "$GC_ACKED" -ge 6 ] || fail "only $GC_ACKED of 8 pushes during GC were acknowledged"
ok "$GC_ACKED pushes acknowledged during online GC, each complete and digest-verified"

log "kill -9 of B during 20 concurrent pushes (half through each)"
for i in $(seq 1 20); do make_busybox_layout "$WORK/p$i" v1 "push $i" >"$WORK/p$i.digest"; done
for i in $(seq 1 20); do
  target=$A
  [ $((i % 2)) = 0 ] && target=$B
  (skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false \
    "oci:$WORK/p$i:v1" "docker://$target/kill/p$i:v1" >"$WORK/p$i.log" 2>&1 && echo ok >"$WORK/p$i.acked") &
  PUSHES+=($!)
done
sleep 0.7
kill -9 "$(pid_of_replica 2)"
ok "killed replica B (pid $(pid_of_replica 2))"
for p in "${PUSHES[@]}"; do wait "$p" || true; done
ACKED=0
for i in $(seq 1 20); do
  if [ $((i % 2)) = 1 ] && [ ! -f "$WORK/p$i.acked" ]; then
    cat "$WORK/p$i.log" >&2
    fail "push $i went through A, which was not killed, and failed"
  fi
  [ -f "$WORK/p$i.acked" ] || continue
  ACKED=$((ACKED + 1))
  rm -rf "$WORK/q"
  skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$A/kill/p$i:v1" \
    "oci:$WORK/q:v1" >"$WORK/q.log" 2>&1 || { cat "$WORK/q.log" >&2; fail "acknowledged push $i is not pullable"; }
  d=$(cat "$WORK/p$i.digest")
  [ "$(layout_digest "$WORK/q" v1)" = "$d" ] || fail "push $i: digest differs"
  for blob in $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$WORK/p$i" "$d")"); do
    cmp -s "$(layout_blob "$WORK/p$i" "$blob")" "$(layout_blob "$WORK/q" "$blob")" || fail "push $i blob $blob differs"
  done
done
ok "$ACKED acknowledged pushes complete and digest-verified through A"

log "B restarts on the same stores"
(. "$CLUSTER_DIR/s3.env" && exec env DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" "$DRYDOCK_BIN" serve \
  --config "$CLUSTER_DIR/config.yaml" --data "$CLUSTER_DIR/replica-2" --listen "$B" >>"$CLUSTER_DIR/replica-2.log" 2>&1) &
echo "$!" >>"$CLUSTER_DIR/pids"
for _ in $(seq 1 200); do curl -s -o /dev/null "$B_URL/healthz" && break; sleep 0.05; done
B_RESTARTED=$(date +%s)
verify_pull "$WORK/src" "$B" cl/busybox
ok "B serves again after its restart"

log "PostgreSQL restarted under load: A recovers by itself"
B_LOAD=$((SECONDS + 6))
(while [ $SECONDS -lt $B_LOAD ]; do
  curl -s -o /dev/null "${ADMIN[@]}" "$A_URL/v2/cl/busybox/manifests/v1" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
done) &
LOADER=$!
sleep 1
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$(cat "$CLUSTER_DIR/pg.dir")/data" -m immediate -w restart \
  -l "$(cat "$CLUSTER_DIR/pg.dir")/log" >/dev/null || fail "restart PostgreSQL"
ok "PostgreSQL restarted (immediate stop, as a crash)"
wait "$LOADER" || true
code=$(curl -sS -o /dev/null -w '%{http_code}' "${ADMIN[@]}" "$A_URL/v2/cl/busybox/manifests/v1" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json')
assert_eq 200 "$code" "A answers from the database after its restart"
REG=$A push_layout "$WORK/p1" v1 after/restart:v1
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' "${ADMIN[@]}" "$A_URL/v2/after/restart/manifests/v1" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json')" "a push after the restart"

log "the timer fires once per occurrence with both replicas running"
ticks() { # the occurrences of the ticker's timer runs, one line per run, as unix seconds
  curl -sS "${ADMIN[@]}" "$1/api/v1/runs?task=ticker&top=100" |
    jq -r '.runs[] | select(.trigger == "Timer") | .timerTrigger.scheduleOccurrence' |
    while read -r t; do date -d "$t" +%s; done
}
# The first whole minute both replicas saw from start to end.
WANT=$(((B_RESTARTED / 60 + 1) * 60))
deadline=$((WANT + 40))
until ticks "$A_URL" | awk -v w="$WANT" '$1 >= w { f = 1 } END { exit !f }' || [ "$(date +%s)" -ge "$deadline" ]; do
  sleep 1
done
sleep 3 # a second replica's run for the same occurrence would be queued by now
TICKS=$(ticks "$B_URL")
assert_contains "$TICKS" "$WANT" "a timer run for the occurrence at $(date -u -d "@$WANT" +%H:%M)"
assert_eq "" "$(sort <<<"$TICKS" | uniq -d)" "no occurrence queued twice (occurrences: $(tr '\n' ' ' <<<"$TICKS"))"
