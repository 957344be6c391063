#!/usr/bin/env bash
# start-cluster.sh - Drydock scaled out, on one machine: a real PostgreSQL
# (scripts/pg/start-pg.sh: own initdb in a temp dir, Unix socket), a real S3
# endpoint (Ceph radosgw on a throwaway single-node cluster,
# scripts/s3/start-s3.sh), N `drydock serve` replicas sharing both (each
# with its own small data directory) and one build agent. It is the
# production layout in miniature. With --balancer, a real load balancer
# (HAProxy) in front of the replicas sends each request to the next replica
# in turn (no sticky sessions: any replica serves any request); without it,
# replica 1 stands in for one.
#
# Usage:   eval "$(scripts/start-cluster.sh [--replicas N] [--agents N] [--balancer]
#                  [--allow-private-fetches])"
#          scripts/stop-cluster.sh "$CLUSTER_DIR"
# Env:     DRYDOCK_BIN (default: build-release/src/drydock),
#          DRYDOCK_ADMIN_PASSWORD (default: random; printed as CLUSTER_ADMIN_PASSWORD)
# Output (stdout): shell "export" lines (CLUSTER_DIR, CLUSTER_URL: the registry's address,
#          the balancer's or replica 1's; CLUSTER_URLS: each replica's, CLUSTER_ADMIN_PASSWORD,
#          PG_URL, S3_ENDPOINT); how to reach it goes to stderr.
# Needs (Debian 12): postgresql, ceph-mon ceph-osd radosgw, haproxy for --balancer
#          (scripts/install-deps.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${DRYDOCK_BIN:-$ROOT/build-release/src/drydock}
REPLICAS=2 AGENTS=1 PRIVATE=false BALANCER=false
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) REPLICAS=$2; shift 2 ;;
    --agents) AGENTS=$2; shift 2 ;;
    --allow-private-fetches) PRIVATE=true; shift ;;
    --balancer) BALANCER=true; shift ;;
    *) echo "start-cluster: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || { echo "start-cluster: no drydock binary at $BIN (set DRYDOCK_BIN)" >&2; exit 1; }
log() { echo "start-cluster: $*" >&2; }

D=$(mktemp -d "${TMPDIR:-/tmp}/drydock-cluster.XXXXXX")
: >"$D/pids"
fail() {
  log "FAILED: $*"
  for f in "$D"/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
  "$ROOT/scripts/stop-cluster.sh" "$D" >&2 || true
  exit 1
}

"$ROOT/scripts/pg/start-pg.sh" >"$D/pg.env" 2>"$D/start-pg.log" || fail "start-pg.sh"
. "$D/pg.env"
echo "$PG_DIR" >"$D/pg.dir"
# Free ports are picked before radosgw binds them: another start may race.
"$ROOT/scripts/s3/start-s3.sh" >"$D/s3.env" 2>"$D/start-s3.log" ||
  "$ROOT/scripts/s3/start-s3.sh" >"$D/s3.env" 2>>"$D/start-s3.log" || fail "start-s3.sh"
. "$D/s3.env"
echo "$S3_DIR" >"$D/s3.dir"
code=$(curl -s -o "$D/bucket.out" -w '%{http_code}' -X PUT --aws-sigv4 aws:amz:us-east-1:s3 \
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  "$S3_ENDPOINT/drydock")
[ "$code" = 200 ] || fail "create bucket drydock: HTTP $code $(cat "$D/bucket.out")"

free_port() {
  local p
  for _ in $(seq 1 100); do
    # Below Linux's ephemeral range (32768+), where outgoing connections take theirs.
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! grep -qw "$p" "$D/ports" 2>/dev/null; then
      echo "$p" | tee -a "$D/ports"
      return 0
    fi
  done
  fail "no free port found"
}
PORTS=()
for i in $(seq 1 "$REPLICAS"); do PORTS+=("$(free_port)"); done
PUBLIC=http://127.0.0.1:${PORTS[0]}
if [ "$BALANCER" = true ]; then
  command -v haproxy >/dev/null || fail "--balancer needs haproxy (scripts/install-deps.sh)"
  PUBLIC=http://127.0.0.1:$(free_port)
fi

# Every replica reads the same file; secrets come from the environment.
# public_url is the name every replica gives the registry (image names,
# base-image triggers, upload locations): the balancer, or replica 1.
cat >"$D/config.yaml" <<EOT
public_url: $PUBLIC
storage:
  metadata: $PG_URL
  blobs:
    s3:
      endpoint: $S3_ENDPOINT
      bucket: drydock
      prefix: registry/
      access_key_env: AWS_ACCESS_KEY_ID
      secret_key_env: AWS_SECRET_ACCESS_KEY
builds:
  concurrency: 0    # the replicas build nothing themselves: agents do
  allow_private_fetches: $PRIVATE
EOT
PASS=${DRYDOCK_ADMIN_PASSWORD:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}

URLS=()
for i in $(seq 1 "$REPLICAS"); do
  # One at a time: the first creates the schema and the admin user.
  DRYDOCK_ADMIN_PASSWORD="$PASS" "$BIN" serve --config "$D/config.yaml" --data "$D/replica-$i" \
    --listen "127.0.0.1:${PORTS[$((i - 1))]}" >"$D/replica-$i.log" 2>&1 &
  echo "$!" >>"$D/pids"
  port=""
  for _ in $(seq 1 400); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/replica-$i.log" | head -n1)
    [ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    port=""
    sleep 0.05
  done
  [ -n "$port" ] || fail "replica $i did not start"
  URLS+=("http://127.0.0.1:$port")
done

if [ "$BALANCER" = true ]; then
  # Round robin per request: HAProxy in HTTP mode balances each request of
  # a kept-alive connection anew. Health checks take a dead replica out.
  {
    printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n'
    printf '  timeout client 10m\n  timeout server 10m\n  retries 2\n  option redispatch\n'
    printf 'frontend registry\n  bind 127.0.0.1:%s\n  default_backend replicas\n' "${PUBLIC##*:}"
    printf 'backend replicas\n  balance roundrobin\n  option httpchk GET /healthz\n'
    for i in "${!URLS[@]}"; do
      printf '  server replica-%s %s check inter 1s\n' "$((i + 1))" "${URLS[$i]#http://}"
    done
  } >"$D/haproxy.cfg"
  haproxy -db -f "$D/haproxy.cfg" >"$D/haproxy.log" 2>&1 &
  echo "$!" >>"$D/pids"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$PUBLIC/healthz" && break
    sleep 0.05
  done
  curl -s -o /dev/null "$PUBLIC/healthz" || fail "haproxy did not start"
fi

if [ "$AGENTS" -gt 0 ]; then
  export XDG_CONFIG_HOME="$D/client"
  printf '%s' "$PASS" | "$BIN" login "${URLS[0]#http://}" -u admin --password-stdin >/dev/null 2>"$D/login.log" ||
    fail "drydock login"
  for a in $(seq 1 "$AGENTS"); do
    "$BIN" agent token create "agent-$a" --description "start-cluster.sh" >"$D/agent-$a.token" 2>"$D/token.log" ||
      fail "agent token create"
    chmod 600 "$D/agent-$a.token"
    # Agents may call any replica; each is given the next one in turn.
    server=${URLS[$(((a - 1) % REPLICAS))]}
    flags=()
    [ "$PRIVATE" = true ] && flags+=(--allow-private-fetches)
    "$BIN" agent --server "$server" --name "agent-$a" --token-file "$D/agent-$a.token" \
      --state "$D/agent-$a" "${flags[@]}" >"$D/agent-$a.log" 2>&1 &
    echo "$!" >>"$D/pids"
  done
fi

cat >"$D/cluster.env" <<EOT
export CLUSTER_DIR='$D'
export CLUSTER_URL='$PUBLIC'
export CLUSTER_URLS='${URLS[*]}'
export CLUSTER_ADMIN_PASSWORD='$PASS'
export PG_URL='$PG_URL'
export S3_ENDPOINT='$S3_ENDPOINT'
EOT
log "ready in $D: the registry at $PUBLIC; ${#URLS[@]} replicas (${URLS[*]}), $AGENTS agent(s), PostgreSQL $PG_URL, S3 $S3_ENDPOINT"
log "sign in as admin / \$CLUSTER_ADMIN_PASSWORD; logs in $D/*.log; stop: scripts/stop-cluster.sh $D"
cat "$D/cluster.env"
