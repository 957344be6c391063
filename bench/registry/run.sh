#!/usr/bin/env bash
# Drydock vs. distribution (Debian's docker-registry 2.8) on this machine.
#
#   bench/registry/run.sh [--quick] [--only LIST] [--no-build] [--wait-idle]
#                         [--backend filesystem|s3|postgres-s3] [--replicas N]
#                         [--output FILE] [--keep]
#
# Starts `drydock serve` and `docker-registry serve` side by side on free
# loopback ports, each with its own data in a temporary directory, and
# measures in the same run:
#   get     manifest GET requests/s (wrk, 2 threads, 64 connections, OCI Accept)
#   pull    blob pull MB/s with curl -o /dev/null (best of 3), against `cat`
#           of the file (the ceiling) and busybox httpd serving it (a
#           reference: what one curl gets from a trivial sendfile server)
#   push    wall time to push N small images with skopeo (4 copies at once),
#           against skopeo copying the same images to a local dir: (client floor)
#   upload  wall time and aggregate MB/s of M concurrent blob uploads
#           (POST, then PUT ?digest= with the whole blob)
# and prints a markdown table with both values, their ratio and the targets
# (>= 2x requests/s, >= 1.5x pull MB/s, <= 0.7x push time).
#
# Full mode: 10 s wrk, 1 GiB blob, 200 images, 20 x 100 MiB uploads: 3-5
# minutes and 10 GiB of temporary disk. --quick: 3 s, 128 MiB, 20 images,
# 20 x 8 MiB: about a minute. --only get,pull,push,upload runs a subset.
# --no-build uses the existing binary as is (otherwise ninja brings it up to
# date, or cmake+ninja builds it if missing); --wait-idle first waits for
# other load on the machine to stop; --keep keeps the temporary directory.
# --backend s3 stores both registries' blobs in one local radosgw
# (scripts/s3/start-s3.sh; a bucket each): drydock with storage.blobs.s3,
# distribution with its s3-aws driver, neither redirecting. --backend
# postgres-s3 is the same with drydock's metadata in a local PostgreSQL too
# (scripts/pg/start-pg.sh): the scaled-out layout. --replicas N (with
# postgres-s3) runs each registry as N processes sharing its stores behind its
# own HAProxy, which balances each request anew; the workloads go through
# the balancers, whose CPU counts as the registries'.
# Needs what scripts/install-deps.sh installs.
#
# Environment knobs: BENCH_TMPDIR (default /var/tmp; should be a real disk,
# not tmpfs), DRYDOCK_BUILD_DIR (default <repo>/build-release), DRYDOCK_BIN
# (use this binary), DRYDOCK_WRAPPER (run drydock under a command, e.g.
# "eatmydata" to see what fsync costs), WRK_DURATION, PULL_MIB, IMAGES,
# PUSH_PARALLEL, UPLOADS, UPLOAD_MIB.
#
# Everything listens on and talks to 127.0.0.1 only. The processes it starts
# and its temporary directory are removed on exit, however it exits.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() { sed -n '2,/^[^#]/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

MODE=full BUILD=1 OUTPUT="" KEEP=0 WAIT_IDLE=0 ONLY=get,pull,push,upload BACKEND=filesystem REPLICAS=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) MODE=quick ;;
    --only) ONLY=${2:?--only needs a list such as get,push}; shift ;;
    --no-build) BUILD=0 ;;
    --output) OUTPUT=${2:?--output needs a file}; shift ;;
    --keep) KEEP=1 ;;
    --wait-idle) WAIT_IDLE=1 ;;
    --backend) BACKEND=${2:?--backend needs filesystem, s3 or postgres-s3}; shift ;;
    --replicas) REPLICAS=${2:?--replicas needs a number}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ,$ONLY, == *,$1,* ]]; }
[[ $BACKEND =~ ^(filesystem|s3|postgres-s3)$ ]] ||
  { echo "run.sh: --backend is filesystem, s3 or postgres-s3, not '$BACKEND'" >&2; exit 2; }
[[ $REPLICAS =~ ^[1-9]$ ]] || { echo "run.sh: --replicas is 1 to 9, not '$REPLICAS'" >&2; exit 2; }
[[ $REPLICAS == 1 || $BACKEND == postgres-s3 ]] ||
  { echo "run.sh: --replicas $REPLICAS needs stores the replicas share: --backend postgres-s3" >&2; exit 2; }
((REPLICAS == 1)) || command -v haproxy >/dev/null || { echo "run.sh: --replicas needs haproxy" >&2; exit 2; }
for b in ${ONLY//,/ }; do
  [[ $b =~ ^(get|pull|push|upload)$ ]] || { echo "run.sh: unknown benchmark '$b' in --only" >&2; exit 2; }
done

if [[ $MODE == full ]]; then
  : "${WRK_DURATION:=10}" "${PULL_MIB:=1024}" "${IMAGES:=200}" "${UPLOADS:=20}" "${UPLOAD_MIB:=100}"
else
  : "${WRK_DURATION:=3}" "${PULL_MIB:=128}" "${IMAGES:=20}" "${UPLOADS:=20}" "${UPLOAD_MIB:=8}"
fi
: "${PUSH_PARALLEL:=4}" "${WRK_THREADS:=2}" "${WRK_CONNECTIONS:=64}"

# Loopback only: never route benchmark traffic through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
export LC_ALL=C

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in docker-registry wrk skopeo curl jq sha256sum tar gzip awk xargs; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done

# ---------------------------------------------------------------- binary ---
BUILD_DIR=${DRYDOCK_BUILD_DIR:-$ROOT/build-release}
if [[ -n ${DRYDOCK_BIN:-} ]]; then
  BIN=$DRYDOCK_BIN
else
  BIN=$BUILD_DIR/src/drydock
  if [[ ! -x $BIN ]]; then
    log "building the release binary in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DDRYDOCK_WERROR=OFF >/dev/null
    ninja -C "$BUILD_DIR" drydock
  elif [[ $BUILD == 1 ]]; then
    log "bringing $BIN up to date (--no-build skips this)"
    ninja -C "$BUILD_DIR" drydock >/dev/null
  fi
fi
[[ -x $BIN ]] || die "no drydock binary at $BIN"

# ------------------------------------------------------------ quietness ---
# Percent of both CPUs busy over two seconds, from /proc/stat. The machine
# has 2 cores: anything else running (a compiler, a test suite) skews every
# number, and a noisy phase is flagged in the report (see phase_end).
busy_pct() {
  local -a a b
  read -ra a </proc/stat
  sleep 2
  read -ra b </proc/stat
  local busy=$((b[1] - a[1] + b[2] - a[2] + b[3] - a[3] + b[6] - a[6] + b[7] - a[7] + b[8] - a[8]))
  local total=$((busy + b[4] - a[4] + b[5] - a[5]))
  echo $((total ? 100 * busy / total : 0))
}
BUSY=$(busy_pct)
if ((BUSY > 10)) && [[ $WAIT_IDLE == 1 ]]; then
  log "machine is ${BUSY}% busy; waiting (up to 30 min) for 10 quiet seconds"
  quiet=0
  for _ in $(seq 600); do
    BUSY=$(busy_pct)
    if ((BUSY <= 10)); then quiet=$((quiet + 1)); else quiet=0; fi
    ((quiet < 5)) || break
  done
fi
((BUSY <= 10)) || log "WARNING: the machine is ${BUSY}% busy: results will be noisy (--wait-idle waits)"

# ------------------------------------------------------- temp + cleanup ---
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
need_mib=512
want pull && need_mib=$((need_mib + PULL_MIB * 4))
want upload && need_mib=$((need_mib + UPLOADS * UPLOAD_MIB * 3))
avail_mib=$(df -Pm "$TMPBASE" | awk 'NR==2{print $4}')
((avail_mib > need_mib)) || die "$TMPBASE has ${avail_mib} MiB free; this run needs about ${need_mib} MiB"
WORK=$(mktemp -d "$TMPBASE/drydock-bench.XXXXXX")
PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Background jobs of this shell first, then the servers.
  local jobs_left
  jobs_left=$(jobs -p)
  [[ -z $jobs_left ]] || kill $jobs_left 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [[ -z ${S3_DIR:-} ]] || "$ROOT/scripts/s3/stop-s3.sh" "$S3_DIR" 2>/dev/null || true
  [[ -z ${PG_DIR:-} ]] || "$ROOT/scripts/pg/stop-pg.sh" "$PG_DIR" 2>/dev/null || true
  if [[ $KEEP == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: nothing answers a connect to it.
pick_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# Waits until URL answers any HTTP status while PID is alive.
wait_http() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up: $(tail -3 "$WORK/$name.log" 2>/dev/null)"
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) != 000 ]] && return
    sleep 0.1
  done
  die "$name did not answer on $url"
}

now() { date +%s.%N; }
# Arithmetic on floats: calc 'EXPR' name=value...
calc() {
  local e=$1 kv
  shift
  local -a vars=()
  for kv in "$@"; do vars+=(-v "$kv"); done
  awk "${vars[@]}" "BEGIN { printf \"%.2f\", $e }" </dev/null
}

TICKS=$(getconf CLK_TCK)
# CPU jiffies (user+system) of PID; with "with_children", plus those of all
# the children it has waited for.
proc_jiffies() {
  local st rest
  st=$(<"/proc/$1/stat")
  rest=${st##*) }
  local -a f
  read -ra f <<<"$rest"
  if [[ ${2:-} == with_children ]]; then
    echo $((f[11] + f[12] + f[13] + f[14]))
  else
    echo $((f[11] + f[12]))
  fi
}
# CPU seconds of every PID given (a registry's replicas and balancer).
cpu_secs() {
  local p j=0
  for p in "$@"; do j=$((j + $(proc_jiffies "$p"))); done
  calc 'j/t' j="$j" t="$TICKS"
}

# Interference accounting: jiffies of all CPUs busy (user+nice+system; irq
# and softirq are left out, since loopback TCP is ours), of kernel threads
# (disk writeback, ksoftirqd: caused by the benchmark but not charged to it),
# of both servers, and of this script with every child it waited for (wrk,
# curl, skopeo). What is left over was used by other programs on the machine
# while the phase ran.
kthread_jiffies() {
  local f line total=0 _s ppid ut st
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue  # it may have exited meanwhile
    read -r _s ppid _ _ _ _ _ _ _ _ _ ut st _ <<<"${line##*) }"
    ((ppid != 2)) || total=$((total + ut + st))
  done
  echo "$total"
}
cpu_snapshot() {
  local _c u n sy _rest
  read -r _c u n sy _rest </proc/stat
  echo "$(now) $((u + n + sy)) $(jiffies_of $DD_PIDS $DIST_PIDS) $(proc_jiffies $$ with_children) $(kthread_jiffies)"
}
jiffies_of() {
  local p j=0
  for p in "$@"; do j=$((j + $(proc_jiffies "$p"))); done
  echo "$j"
}
phase_start() { P0=$(cpu_snapshot); }
phase_end() {  # KEY: R[other_KEY], R[kthreads_KEY] = cores used by others / kernel threads during the phase
  local t0 b0 s0 c0 k0 t1 b1 s1 c1 k1
  read -r t0 b0 s0 c0 k0 <<<"$P0"
  read -r t1 b1 s1 c1 k1 <<<"$(cpu_snapshot)"
  R[other_$1]=$(calc '(o > 0 ? o : 0) / k / (t1 - t0)' o="$((b1 - b0 - (s1 - s0) - (c1 - c0) - (k1 - k0)))" \
    k="$TICKS" t0="$t0" t1="$t1")
  R[kthreads_$1]=$(calc '(o > 0 ? o : 0) / k / (t1 - t0)' o="$((k1 - k0))" k="$TICKS" t0="$t0" t1="$t1")
}

ADMIN_PASS=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
DD_PORT=$(pick_port)
DIST_PORT=$(pick_port)
while [[ $DIST_PORT == "$DD_PORT" ]]; do DIST_PORT=$(pick_port); done
DD=http://127.0.0.1:$DD_PORT
DIST=http://127.0.0.1:$DIST_PORT
DD_AUTH=(-u "admin:$ADMIN_PASS")
DIST_AUTH=()
ACCEPT='application/vnd.oci.image.manifest.v1+json'

# -------------------------------------------------------------- servers ---
mkdir -p "$WORK/drydock-data" "$WORK/distribution-data"
cat >"$WORK/drydock.yaml" <<EOF
access_log: false
auth:
  anonymous_pull: ["*"]
EOF
DIST_STORAGE="  filesystem:
    rootdirectory: $WORK/distribution-data"
if [[ $BACKEND == postgres-s3 ]]; then
  log "starting a local PostgreSQL (scripts/pg/start-pg.sh)"
  eval "$("$ROOT/scripts/pg/start-pg.sh" 2>"$WORK/start-pg.log")" || { cat "$WORK/start-pg.log" >&2; die "start-pg.sh"; }
  printf 'storage:\n  metadata: %s\n' "$PG_URL" >>"$WORK/drydock.yaml"
fi
if [[ $BACKEND == *s3 ]]; then
  log "starting a local radosgw (scripts/s3/start-s3.sh)"
  eval "$("$ROOT/scripts/s3/start-s3.sh" 2>"$WORK/start-s3.log")" || { cat "$WORK/start-s3.log" >&2; die "start-s3.sh"; }
  for bucket in drydock distribution; do
    curl -sSf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$S3_ENDPOINT/$bucket" || die "cannot create bucket $bucket"
  done
  [[ $BACKEND == s3 ]] && echo "storage:" >>"$WORK/drydock.yaml"
  cat >>"$WORK/drydock.yaml" <<EOF
  blobs:
    s3: {endpoint: $S3_ENDPOINT, bucket: drydock, prefix: registry/}
EOF
  DIST_STORAGE="  s3:
    accesskey: $AWS_ACCESS_KEY_ID
    secretkey: $AWS_SECRET_ACCESS_KEY
    region: us-east-1
    regionendpoint: $S3_ENDPOINT
    bucket: distribution
    secure: false
    v4auth: true
    rootdirectory: /registry
  redirect:
    disable: true"
fi
# distribution as Debian ships it (filesystem storage, in-memory blob
# descriptor cache, deletes on), minus auth, the access log and the periodic
# storage health check.
cat >"$WORK/distribution.yaml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
$DIST_STORAGE
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$DIST_PORT
  secret: $ADMIN_PASS
EOF

log "starting drydock on $DD (${DRYDOCK_WRAPPER:+$DRYDOCK_WRAPPER }$BIN)"
read -ra WRAPPER <<<"${DRYDOCK_WRAPPER:-}"
DRYDOCK_ADMIN_PASSWORD=$ADMIN_PASS "${WRAPPER[@]}" "$BIN" serve --config "$WORK/drydock.yaml" \
  --data "$WORK/drydock-data" --listen "127.0.0.1:$DD_PORT" >"$WORK/drydock.log" 2>&1 &
DD_PID=$!
PIDS+=("$DD_PID")
DIST_VERSION=$(docker-registry --version 2>&1 | awk '{print $NF}')
log "starting distribution $DIST_VERSION on $DIST"
# (the AWS SDK in distribution 2.8 cannot use a custom CA bundle with its transport)
env -u AWS_CA_BUNDLE docker-registry serve "$WORK/distribution.yaml" >"$WORK/distribution.log" 2>&1 &
DIST_PID=$!
PIDS+=("$DIST_PID")
wait_http "$DD/v2/" "$DD_PID" drydock
wait_http "$DIST/v2/" "$DIST_PID" distribution
DD_PIDS=$DD_PID DIST_PIDS=$DIST_PID
if ((REPLICAS > 1)); then
  # start_balancer NAME PORT URL...: HAProxy round robin per request over the URLs (BALANCER_PID).
  start_balancer() {
    local name=$1 port=$2 u
    shift 2
    {
      printf 'global\n  maxconn 8192\ndefaults\n  mode http\n  timeout connect 5s\n'
      printf '  timeout client 10m\n  timeout server 10m\nfrontend registry\n  bind 127.0.0.1:%s\n' "$port"
      printf '  default_backend replicas\nbackend replicas\n  balance roundrobin\n'
      for u in "$@"; do printf '  server %s %s\n' "${u##*:}" "${u#http://}"; done
    } >"$WORK/haproxy-$name.cfg"
    haproxy -db -f "$WORK/haproxy-$name.cfg" >"$WORK/haproxy-$name.log" 2>&1 &
    BALANCER_PID=$!
    PIDS+=("$BALANCER_PID")
  }
  DD_URLS=("$DD") DIST_URLS=("$DIST")
  for r in $(seq 2 "$REPLICAS"); do
    p=$(pick_port)
    DRYDOCK_ADMIN_PASSWORD=$ADMIN_PASS "${WRAPPER[@]}" "$BIN" serve --config "$WORK/drydock.yaml" \
      --data "$WORK/drydock-data-$r" --listen "127.0.0.1:$p" >"$WORK/drydock-$r.log" 2>&1 &
    PIDS+=("$!") && DD_PIDS+=" $!"
    wait_http "http://127.0.0.1:$p/v2/" "$!" "drydock-$r"
    DD_URLS+=("http://127.0.0.1:$p")
    p=$(pick_port)
    sed "s/addr: 127.0.0.1:$DIST_PORT/addr: 127.0.0.1:$p/" "$WORK/distribution.yaml" >"$WORK/distribution-$r.yaml"
    env -u AWS_CA_BUNDLE docker-registry serve "$WORK/distribution-$r.yaml" >"$WORK/distribution-$r.log" 2>&1 &
    PIDS+=("$!") && DIST_PIDS+=" $!"
    wait_http "http://127.0.0.1:$p/v2/" "$!" "distribution-$r"
    DIST_URLS+=("http://127.0.0.1:$p")
  done
  p=$(pick_port)
  start_balancer drydock "$p" "${DD_URLS[@]}"
  DD_PIDS+=" $BALANCER_PID"
  DD=http://127.0.0.1:$p
  p=$(pick_port)
  start_balancer distribution "$p" "${DIST_URLS[@]}"
  DIST_PIDS+=" $BALANCER_PID"
  DIST=http://127.0.0.1:$p
  wait_http "$DD/v2/" "$DD_PID" drydock-balancer
  wait_http "$DIST/v2/" "$DIST_PID" distribution-balancer
  log "$REPLICAS replicas each, behind HAProxy: drydock at $DD, distribution at $DIST"
fi

# --------------------------------------------------------------- helpers ---
# Absolute upload URL from a Location header (distribution sends absolute
# URLs, drydock sends paths).
absolute() { if [[ $2 == http* ]]; then echo "$2"; else echo "$1$2"; fi; }

# push_blob BASE REPO FILE DIGEST [curl auth args...]: POST, then PUT ?digest
# with the whole file as the body. Fails unless the PUT answers 201.
push_blob() {
  local base=$1 repo=$2 file=$3 digest=$4
  shift 4
  local loc code sep
  loc=$(curl -sS "$@" -X POST -o /dev/null -w '%header{location}' "$base/v2/$repo/blobs/uploads/")
  [[ -n $loc ]] || { log "POST $base/v2/$repo/blobs/uploads/ gave no Location"; return 1; }
  loc=$(absolute "$base" "$loc")
  sep='?'
  [[ $loc == *\?* ]] && sep='&'
  code=$(curl -sS "$@" -o /dev/null -w '%{http_code}' -X PUT -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' -T "$file" "$loc${sep}digest=$digest")
  [[ $code == 201 ]] || { log "PUT of $digest to $base/v2/$repo answered $code"; return 1; }
}

# push_layout BASE REPO TAG LAYOUT_DIR [auth...]: pushes an OCI layout made by
# make-oci-layout.sh with curl alone (blobs, then the manifest).
push_layout() {
  local base=$1 repo=$2 tag=$3 dir=$4
  shift 4
  local manifest f code
  manifest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  for f in "$dir"/blobs/sha256/*; do
    [[ sha256:$(basename "$f") == "$manifest" ]] && continue
    push_blob "$base" "$repo" "$f" "sha256:$(basename "$f")" "$@"
  done
  code=$(curl -sS "$@" -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $ACCEPT" \
    --data-binary "@$dir/blobs/sha256/${manifest#sha256:}" "$base/v2/$repo/manifests/$tag")
  [[ $code == 201 ]] || die "manifest PUT to $base/v2/$repo/manifests/$tag answered $code"
}

# best_of_3 KEY COMMAND...: R[KEY] = the highest of three runs, R[KEY_all] = all three.
best_of_3() {
  local key=$1 best=0 v all=""
  shift
  for _ in 1 2 3; do
    v=$("$@")
    all+="${all:+, }$v"
    best=$(calc '(v>b)?v:b' v="$v" b="$best")
  done
  R[$key]=$best
  R[${key}_all]=$all
}

declare -A R  # results

# ================================================================ 1. get ===
if want get; then
  log "get: preparing bench/manifest:latest on both"
  "$HERE/make-oci-layout.sh" "$WORK/manifest-image" >/dev/null
  MANIFEST_DIGEST=$(jq -r '.manifests[0].digest' "$WORK/manifest-image/index.json")
  push_layout "$DD" bench/manifest latest "$WORK/manifest-image" "${DD_AUTH[@]}"
  push_layout "$DIST" bench/manifest latest "$WORK/manifest-image" "${DIST_AUTH[@]}"
  for base in "$DD" "$DIST"; do
    # Anonymous on purpose: that is what wrk sends.
    read -r code ctype < <(curl -s -o "$WORK/check.json" -w '%{http_code} %{content_type}\n' \
      -H "Accept: $ACCEPT" "$base/v2/bench/manifest/manifests/latest")
    [[ $code == 200 ]] || die "GET $base/v2/bench/manifest/manifests/latest answered $code, not 200"
    [[ sha256:$(sha256sum <"$WORK/check.json" | cut -d' ' -f1) == "$MANIFEST_DIGEST" ]] ||
      die "$base returned a manifest with the wrong digest"
    [[ $ctype == "$ACCEPT" ]] || die "$base answered Content-Type $ctype"
  done
  log "get: both answer 200 with the pushed manifest ($MANIFEST_DIGEST)"

  run_wrk() {  # NAME BASE PID
    local name=$1 base=$2 pid=$3 url="$2/v2/bench/manifest/manifests/latest" c0 c1 out
    out=$WORK/wrk-$name.txt
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d3s -s "$HERE/accept-oci.lua" "$url" >/dev/null  # warm-up
    c0=$(cpu_secs $pid)
    phase_start
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_DURATION}s" --latency -s "$HERE/accept-oci.lua" "$url" >"$out"
    phase_end "get_$name"
    c1=$(cpu_secs $pid)
    ! grep -q 'Non-2xx' "$out" || die "$name: wrk saw non-2xx answers: $(grep Non-2xx "$out")"
    R[rps_$name]=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$out")
    R[p50_$name]=$(awk '$1=="50%"{print $2}' "$out")
    R[p99_$name]=$(awk '$1=="99%"{print $2}' "$out")
    R[wrkerr_$name]=$(awk '/Socket errors/{sub(/^ *Socket errors: /, ""); print}' "$out")
    R[getcpu_$name]=$(calc '(b-a)/d' a="$c0" b="$c1" d="$WRK_DURATION")
    log "get: $name ${R[rps_$name]} requests/s (p50 ${R[p50_$name]}, p99 ${R[p99_$name]}, server CPU ${R[getcpu_$name]} cores)"
  }
  log "get: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_DURATION}s each, after a 3 s warm-up"
  run_wrk drydock "$DD" "$DD_PIDS"
  run_wrk distribution "$DIST" "$DIST_PIDS"
fi

# =============================================================== 2. pull ===
if want pull; then
  log "pull: making a ${PULL_MIB} MiB random blob and pushing it to both"
  BIG=$WORK/big.blob
  head -c "$((PULL_MIB * 1024 * 1024))" /dev/urandom >"$BIG"
  BIG_SIZE=$(stat -c %s "$BIG")
  BIG_DIGEST=sha256:$(sha256sum "$BIG" | cut -d' ' -f1)
  push_blob "$DD" bench/big "$BIG" "$BIG_DIGEST" "${DD_AUTH[@]}"
  push_blob "$DIST" bench/big "$BIG" "$BIG_DIGEST" "${DIST_AUTH[@]}"
  STORE_COPIES=()
  [[ $BACKEND == *s3 ]] || STORE_COPIES=(
    "$WORK/drydock-data/blobs/sha256/${BIG_DIGEST:7:2}/${BIG_DIGEST#sha256:}"
    "$WORK/distribution-data/docker/registry/v2/blobs/sha256/${BIG_DIGEST:7:2}/${BIG_DIGEST#sha256:}/data")
  for f in "$BIG" "${STORE_COPIES[@]}"; do
    [[ -f $f ]] || die "expected blob file $f is missing"
    cat "$f" >/dev/null  # into the page cache
  done

  # Reference server: busybox httpd serving the same file (hard link).
  BB_URL=""
  if command -v busybox >/dev/null && busybox --list | grep -x httpd >/dev/null; then
    mkdir -p "$WORK/www"
    ln "$BIG" "$WORK/www/blob"
    BB_PORT=$(pick_port)
    busybox httpd -f -p "127.0.0.1:$BB_PORT" -h "$WORK/www" >"$WORK/busybox.log" 2>&1 &
    PIDS+=($!)
    BB_URL=http://127.0.0.1:$BB_PORT/blob
    wait_http "$BB_URL" "$!" busybox
  fi

  if [[ $BACKEND == filesystem ]] && command -v fincore >/dev/null; then
    R[cached]=$(fincore -b -n -o RES,SIZE "$BIG" "${STORE_COPIES[@]}" |
      awk '{res += $1; size += $2} END {printf "%.1f", 100 * res / size}')
    log "pull: page-cache residency of the three copies: ${R[cached]}%"
  fi

  pull_once() {  # URL -> MB/s
    local out code size speed
    out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1")
    read -r code size speed <<<"$out"
    [[ $code == 200 && $size == "$BIG_SIZE" ]] || die "pull from $1 answered $code with $size bytes"
    calc 's/1e6' s="$speed"
  }
  cat_once() {
    local t0 t1
    t0=$(now)
    cat "$BIG" >/dev/null
    t1=$(now)
    calc 's/1e6/(b-a)' s="$BIG_SIZE" a="$t0" b="$t1"
  }
  DD_BLOB_URL=$DD/v2/bench/big/blobs/$BIG_DIGEST
  DIST_BLOB_URL=$DIST/v2/bench/big/blobs/$BIG_DIGEST
  log "pull: curl -o /dev/null, best of 3 after one warm-up pull each"
  pull_once "$DD_BLOB_URL" >/dev/null
  pull_once "$DIST_BLOB_URL" >/dev/null
  c0=$(cpu_secs $DD_PIDS)
  phase_start
  best_of_3 pull_drydock pull_once "$DD_BLOB_URL"
  phase_end pull_drydock
  R[pullcpu_drydock]=$(calc 'b-a' a="$c0" b="$(cpu_secs $DD_PIDS)")
  c0=$(cpu_secs $DIST_PIDS)
  phase_start
  best_of_3 pull_distribution pull_once "$DIST_BLOB_URL"
  phase_end pull_distribution
  R[pullcpu_distribution]=$(calc 'b-a' a="$c0" b="$(cpu_secs $DIST_PIDS)")
  best_of_3 pull_cat cat_once
  if [[ -n $BB_URL ]]; then
    pull_once "$BB_URL" >/dev/null
    best_of_3 pull_busybox pull_once "$BB_URL"
  fi
  log "pull: drydock ${R[pull_drydock]} MB/s, distribution ${R[pull_distribution]} MB/s, cat ${R[pull_cat]} MB/s${BB_URL:+, busybox httpd ${R[pull_busybox]} MB/s}"
fi

# =============================================================== 3. push ===
if want push; then
  log "push: generating $IMAGES tiny OCI layouts"
  mkdir -p "$WORK/images"
  seq 1 "$IMAGES" | sed "s|^|$WORK/images/img|" |
    xargs -n 25 -P 2 "$HERE/make-oci-layout.sh" >"$WORK/images.txt"
  [[ $(wc -l <"$WORK/images.txt") == "$IMAGES" ]] || die "image generation failed"

  # skopeo remembers blob locations in a blob-info cache; every image here has
  # new digests and each registry is a different host:port, so it cannot help.
  push_images() {  # NAME DEST PID [creds]: copies every image, PUSH_PARALLEL at a time; {} in DEST is N
    local name=$1 dest=$2 pid=$3 creds=${4:-} t0 t1 c0=0 c1=0
    local -a extra=()
    [[ $dest != docker://* ]] || extra=(--dest-tls-verify=false)
    [[ -z $creds ]] || extra+=(--dest-creds "$creds")
    [[ -z $pid ]] || c0=$(cpu_secs $pid)
    phase_start
    t0=$(now)
    if ! seq 1 "$IMAGES" | xargs -P "$PUSH_PARALLEL" -I{} \
      skopeo --insecure-policy copy --quiet --retry-times 0 "${extra[@]}" \
      "oci:$WORK/images/img{}:latest" "$dest" >>"$WORK/skopeo-$name.log" 2>&1; then
      die "push: $name: some skopeo copies failed:$(tail -5 "$WORK/skopeo-$name.log")"
    fi
    t1=$(now)
    phase_end "push_$name"
    [[ -z $pid ]] || c1=$(cpu_secs $pid)
    R[push_$name]=$(calc 'b-a' a="$t0" b="$t1")
    R[pushcpu_$name]=$(calc 'b-a' a="$c0" b="$c1")
    log "push: $name: $IMAGES images in ${R[push_$name]} s${pid:+ (server CPU ${R[pushcpu_$name]} s)}"
  }
  check_images() {  # BASE: spot-checks that the pushes landed
    local i code
    for i in 1 $(((IMAGES + 1) / 2)) "$IMAGES"; do
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" "$1/v2/bench/img$i/manifests/latest")
      [[ $code == 200 ]] || die "push: bench/img$i:latest on $1 answers $code after the push"
    done
  }
  log "push: skopeo copy oci:... docker://..., $PUSH_PARALLEL at a time"
  push_images drydock "docker://${DD#http://}/bench/img{}:latest" "$DD_PIDS" "admin:$ADMIN_PASS"
  check_images "$DD"
  push_images distribution "docker://${DIST#http://}/bench/img{}:latest" "$DIST_PIDS"
  check_images "$DIST"
  # The same copies into local directories: what skopeo itself costs.
  mkdir -p "$WORK/dir-copies"
  push_images client_floor "dir:$WORK/dir-copies/img{}" ""
fi

# ============================================================= 4. upload ===
if want upload; then
  log "upload: making $UPLOADS random blobs of $UPLOAD_MIB MiB"
  mkdir -p "$WORK/uploads"
  for i in $(seq 1 "$UPLOADS"); do
    head -c "$((UPLOAD_MIB * 1024 * 1024))" /dev/urandom >"$WORK/uploads/u$i"
  done
  (cd "$WORK/uploads" && printf '%s\n' u* | xargs -P 2 -n 5 sha256sum) >"$WORK/uploads.sha256"
  UPLOAD_BYTES=$((UPLOADS * UPLOAD_MIB * 1024 * 1024))

  # All POSTs from one curl, then all PUTs from one curl, every transfer in
  # flight at once (--parallel): one process per phase, so the client's
  # process start-up (about 10 ms per process on this kind of VM) stays out
  # of the measurement.
  upload_all() {  # NAME BASE PID [auth...]
    local name=$1 base=$2 pid=$3 t0 t1 tp c0 c1 hex file loc sep n=0
    shift 3
    local -a post_args=() put_args=() locs=()
    for _ in $(seq 1 "$UPLOADS"); do post_args+=(-o /dev/null "$base/v2/bench/uploads/blobs/uploads/"); done
    c0=$(cpu_secs $pid)
    phase_start
    t0=$(now)
    mapfile -t locs < <(curl -sS --no-progress-meter "$@" --parallel --parallel-immediate \
      --parallel-max "$UPLOADS" -X POST -w '%header{location}\n' "${post_args[@]}")
    tp=$(now)
    ((${#locs[@]} == UPLOADS)) || die "upload: $name: got ${#locs[@]} upload sessions for $UPLOADS POSTs"
    while read -r hex file; do
      loc=$(absolute "$base" "${locs[n]}")
      n=$((n + 1))
      sep='?'
      [[ $loc == *\?* ]] && sep='&'
      put_args+=(-o /dev/null -T "$WORK/uploads/$file" "$loc${sep}digest=sha256:$hex")
    done <"$WORK/uploads.sha256"
    curl -sS --no-progress-meter "$@" --parallel --parallel-immediate --parallel-max "$UPLOADS" -H 'Expect:' \
      -H 'Content-Type: application/octet-stream' -w '%{http_code}\n' "${put_args[@]}" >"$WORK/uploads-$name.codes"
    t1=$(now)
    phase_end "up_$name"
    c1=$(cpu_secs $pid)
    n=$(grep -c '^201$' "$WORK/uploads-$name.codes" || true)
    ((n == UPLOADS)) ||
      die "upload: $name: only $n of $UPLOADS uploads answered 201: $(sort "$WORK/uploads-$name.codes" | uniq -c | tr '\n' ' ')"
    R[up_$name]=$(calc 'b-a' a="$t0" b="$t1")
    R[uppost_$name]=$(calc 'b-a' a="$t0" b="$tp")
    R[upbw_$name]=$(calc 'n/1e6/(b-a)' n="$UPLOAD_BYTES" a="$t0" b="$t1")
    R[upcpu_$name]=$(calc 'b-a' a="$c0" b="$c1")
    log "upload: $name: $UPLOADS x $UPLOAD_MIB MiB in ${R[up_$name]} s (POSTs ${R[uppost_$name]} s) = ${R[upbw_$name]} MB/s (server CPU ${R[upcpu_$name]} s)"
  }
  log "upload: $UPLOADS at once, POST then PUT ?digest= (curl --parallel -T)"
  cat "$WORK"/uploads/* >/dev/null
  upload_all drydock "$DD" "$DD_PIDS" "${DD_AUTH[@]}"
  cat "$WORK"/uploads/* >/dev/null
  upload_all distribution "$DIST" "$DIST_PIDS" "${DIST_AUTH[@]}"
fi

# ============================================================== report ===
ratio() { calc 'a/b' a="$1" b="$2"; }
verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? (r >= t) : (r <= t); print ok ? "met" : "MISSED" }'; }
row() {  # a markdown table row from its cells
  local out="|" c
  for c in "$@"; do
    c=${c#"${c%%[! ]*}"}
    c=${c%"${c##*[! ]}"}
    out+=" $c |"
  done
  echo "${out//|  |/| |}"
}
noisy() {  # KEY...: a warning if other programs used > 0.2 cores in any of those phases
  local k
  for k in "$@"; do
    if [[ -n ${R[other_$k]:-} ]] && awk -v o="${R[other_$k]}" 'BEGIN { exit !(o > 0.2) }'; then
      echo " (disturbed: other load)"
      return
    fi
  done
}

{
  echo
  echo "Drydock vs distribution $DIST_VERSION, blobs on $BACKEND$([[ $BACKEND == *s3 ]] && echo " (one local radosgw)")$( ((REPLICAS > 1)) && echo ", $REPLICAS replicas each behind HAProxy"): $MODE mode, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, ${BUSY}% busy at start"
  if [[ -n ${DRYDOCK_BIN:-} ]]; then
    src_state="given by DRYDOCK_BIN"
  else
    src_state="from $ROOT at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/')"
  fi
  echo "drydock: ${DRYDOCK_WRAPPER:+$DRYDOCK_WRAPPER }$BIN, built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), $src_state"
  echo
  row "Benchmark " " Drydock " " distribution " " Ratio (D/dist) " " Target " " Result "
  echo "|---|---:|---:|---:|---|---|"
  if want get; then
    r=$(ratio "${R[rps_drydock]}" "${R[rps_distribution]}")
    row " Manifest GET, requests/s (wrk -t$WRK_THREADS -c$WRK_CONNECTIONS, ${WRK_DURATION} s) " " ${R[rps_drydock]} " \
      " ${R[rps_distribution]} " " ${r}x " " >= 2x " " $(verdict "$r" '>=' 2)$(noisy get_drydock get_distribution) "
  fi
  if want pull; then
    r=$(ratio "${R[pull_drydock]}" "${R[pull_distribution]}")
    row " ${PULL_MIB} MiB blob pull, MB/s (curl -o /dev/null, best of 3) " " ${R[pull_drydock]} " \
      " ${R[pull_distribution]} " " ${r}x " " >= 1.5x " " $(verdict "$r" '>=' 1.5)$(noisy pull_drydock pull_distribution) "
    row " - ceiling: \`cat\` of the same file, MB/s " " ${R[pull_cat]} " "" "" "" ""
    [[ -z ${R[pull_busybox]:-} ]] ||
      row " - reference: same curl from busybox httpd (sendfile), MB/s " " ${R[pull_busybox]} " "" "" "" ""
  fi
  if want push; then
    r=$(ratio "${R[push_drydock]}" "${R[push_distribution]}")
    row " Push $IMAGES small images with skopeo ($PUSH_PARALLEL at a time), s " " ${R[push_drydock]} " \
      " ${R[push_distribution]} " " ${r}x " " <= 0.7x " " $(verdict "$r" '<=' 0.7)$(noisy push_drydock push_distribution) "
    row " - client floor: same skopeo copies to dir:, s " " ${R[push_client_floor]} " "" "" "" ""
  fi
  if want upload; then
    r=$(ratio "${R[up_drydock]}" "${R[up_distribution]}")
    row " $UPLOADS concurrent ${UPLOAD_MIB} MiB uploads, wall s " " ${R[up_drydock]} " " ${R[up_distribution]} " \
      " ${r}x " "" "$(noisy up_drydock up_distribution)"
    row " $UPLOADS concurrent ${UPLOAD_MIB} MiB uploads, aggregate MB/s " " ${R[upbw_drydock]} " \
      " ${R[upbw_distribution]} " " $(ratio "${R[upbw_drydock]}" "${R[upbw_distribution]}")x " "" ""
  fi
  echo
  row "Detail " " Drydock " " distribution "
  echo "|---|---:|---:|"
  if want get; then
    row " GET latency p50 / p99 " " ${R[p50_drydock]} / ${R[p99_drydock]} " " ${R[p50_distribution]} / ${R[p99_distribution]} "
    row " GET wrk socket errors " " ${R[wrkerr_drydock]:-none} " " ${R[wrkerr_distribution]:-none} "
    row " GET server CPU, cores " " ${R[getcpu_drydock]} " " ${R[getcpu_distribution]} "
  fi
  if want pull; then
    row " Pull samples, MB/s " " ${R[pull_drydock_all]} " " ${R[pull_distribution_all]} "
    row " Pull server CPU for the 3 pulls, s " " ${R[pullcpu_drydock]} " " ${R[pullcpu_distribution]} "
    [[ -z ${R[cached]:-} ]] || row " Page-cache residency of the pull blob (source + both stores) " " ${R[cached]}% " ""
  fi
  if want push; then
    row " Push server CPU, s " " ${R[pushcpu_drydock]} " " ${R[pushcpu_distribution]} "
  fi
  if want upload; then
    row " Upload: the $UPLOADS POSTs alone, s " " ${R[uppost_drydock]} " " ${R[uppost_distribution]} "
    row " Upload server CPU, s " " ${R[upcpu_drydock]} " " ${R[upcpu_distribution]} "
  fi
  others=() others_d=() kth=() kth_d=()
  for b in get pull push up; do
    [[ -z ${R[other_${b}_drydock]:-} ]] && continue
    others+=("$b ${R[other_${b}_drydock]}")
    others_d+=("$b ${R[other_${b}_distribution]}")
    kth+=("$b ${R[kthreads_${b}_drydock]}")
    kth_d+=("$b ${R[kthreads_${b}_distribution]}")
  done
  row " Other programs' CPU during each phase, cores " " $(IFS=,; echo "${others[*]}" | sed 's/,/, /g') " \
    " $(IFS=,; echo "${others_d[*]}" | sed 's/,/, /g') "
  row " Kernel threads' CPU (writeback, softirq) during each phase, cores " " $(IFS=,; echo "${kth[*]}" | sed 's/,/, /g') " \
    " $(IFS=,; echo "${kth_d[*]}" | sed 's/,/, /g') "
  echo
  echo "MB = 10^6 bytes. Ratios are Drydock / distribution: higher is better for requests/s and MB/s,"
  echo "lower for times. \"Other programs' CPU\" is CPU used during a phase by neither server, this"
  echo "script's clients nor kernel threads; above ~0.2 cores that phase's numbers are disturbed."
} | tee "$WORK/results.md"
[[ -z $OUTPUT ]] || cp "$WORK/results.md" "$OUTPUT"
