# Shared helpers for Drydock's integration tests. Source it from a test:
#   . "$(dirname "$0")/lib.sh"
# Each test gets its own temporary work directory, server and container
# storage; everything is removed on exit (set KEEP_WORK=1 to keep it).
set -euo pipefail
shopt -s inherit_errexit

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRYDOCK_BIN=${DRYDOCK_BIN:-$REPO_ROOT/build/src/drydock}
TEST_NAME=$(basename "$0" .sh)${DD_TEST_CLUSTER:+-cluster}
# Lower case only: buildah derives image names from oci: layout paths.
WORK="${TMPDIR:-/tmp}/drydock-it-$TEST_NAME-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -m 700 "$WORK"
ADMIN_PASS="admin-$RANDOM-$RANDOM-pw"
CHECKS=0
SERVER_PID=""
PORT=""
REG=""
URL=""
BG_PIDS=()

# Keep skopeo/buildah/podman away from the machine's own configuration and storage.
export REGISTRY_AUTH_FILE="$WORK/auth.json"
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$WORK/registries.conf"
export XDG_RUNTIME_DIR="$WORK/xdg"
mkdir -p "$XDG_RUNTIME_DIR" "$WORK/containers/root" "$WORK/containers/run"
echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/containers/root"
runroot = "$WORK/containers/run"
EOF
cat >"$CONTAINERS_REGISTRIES_CONF" <<EOF
unqualified-search-registries = []
EOF

T0=$(date +%s.%N)
log() { echo "[$TEST_NAME $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", b - a }')] $*"; }

ok() {
  CHECKS=$((CHECKS + 1))
  echo "  ok $CHECKS: $*"
}

server_log_tail() {
  if [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ]; then
    echo "---- last lines of $SERVER_LOG ----" >&2
    tail -n 25 "$SERVER_LOG" >&2 || true
  fi
  sanitizer_reports >&2
}

# sanitizer_reports: the start of every sanitizer report in this test's server logs.
sanitizer_reports() {
  local f
  for f in "$WORK"/server.*.log "$WORK"/cluster-*.log; do
    [ -f "$f" ] || continue
    grep -q -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$f" || continue
    echo "---- sanitizer report in $f ----"
    grep -m 3 -A 30 -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$f" | cut -c1-300
  done
}

# skip MESSAGE: a check that cannot run here. Under CI ($CI set) that is a
# failure, not a pass.
skip() {
  case "${CI:-}" in
    "" | 0 | false) echo "SKIP [$TEST_NAME]: $*" ;;
    *) fail "cannot run under CI: $*" ;;
  esac
}

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  server_log_tail
  exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
  if [ "$1" != "$2" ]; then
    fail "$3: expected '$1', got '$2'"
  fi
  ok "$3 = '$2'"
}

assert_ne() {
  if [ "$1" = "$2" ]; then
    fail "$3: expected anything but '$1'"
  fi
  ok "$3 != '$1'"
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
  case "$1" in
    *"$2"*) ok "$3 contains '$2'" ;;
    *) fail "$3: expected to contain '$2', got '$1'" ;;
  esac
}

assert_not_contains() {
  case "$1" in
    *"$2"*) fail "$3: expected not to contain '$2', got '$1'" ;;
    *) ok "$3 does not contain '$2'" ;;
  esac
}

# assert_status EXPECTED ACTUAL WHAT; EXPECTED may list alternatives: "201|202".
assert_status() {
  local alt
  IFS='|' read -ra alt <<<"$1"
  for a in "${alt[@]}"; do
    if [ "$a" = "$2" ]; then
      ok "$3 -> HTTP $2"
      return 0
    fi
  done
  fail "$3: expected HTTP $1, got HTTP $2${LAST_BODY:+ (body: $(head -c 400 <<<"$LAST_BODY"))}"
}

# assert_same_bytes FILE_A FILE_B WHAT: byte-for-byte equality.
assert_same_bytes() {
  if ! cmp -s "$1" "$2"; then
    fail "$3: $1 and $2 differ ($(sha256sum <"$1" | cut -c1-12) vs $(sha256sum <"$2" | cut -c1-12))"
  fi
  ok "$3: identical bytes"
}

# ---------------------------------------------------------------- HTTP ---
# req METHOD PATH [curl args...]: runs curl against the server and sets
# STATUS, LAST_BODY and HDR (response headers, CRs stripped) for inspection.
req() {
  local method=$1 path=$2
  shift 2
  local out="$WORK/.resp.body" hdr="$WORK/.resp.hdr"
  local m=(-X "$method")
  [ "$method" = HEAD ] && m=(-I)
  : >"$out"
  : >"$hdr"
  STATUS=$(curl -sS "${m[@]}" -o "$out" -D "$hdr" -w '%{http_code}' "$@" "$URL$path") || STATUS="curl-error-$?"
  { LAST_BODY=$(<"$out"); } 2>/dev/null  # binary bodies: bash drops NULs (and warns)
  [ "$method" = HEAD ] && LAST_BODY=""     # curl -I writes the headers there
  HDR=$(<"$hdr")
  HDR=${HDR//$'\r'/}
}

# header NAME: a header from the last req (case-insensitive, last one wins).
header() {
  local line name v="" want="${1,,}"
  while IFS= read -r line; do
    name=${line%%:*}
    [ "$name" != "$line" ] && [ "${name,,}" = "$want" ] && v=${line#*: }
  done <<<"$HDR"
  echo "$v"
}

# raw_head PATH: sends a HEAD as admin over a plain socket and prints every
# byte after the header block (curl never reads a HEAD response's body).
raw_head() {
  local auth
  auth=$(printf 'admin:%s' "$ADMIN_PASS" | base64 -w0)
  exec 5<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'HEAD %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n' "$1" "$REG" "$auth" >&5
  timeout 5 cat <&5 | tr -d '\r' | sed '1,/^$/d'
  exec 5<&-
}

# save_body FILE: the last req's response body, byte for byte.
save_body() { cp "$WORK/.resp.body" "$1"; }


# error_code: errors[0].code of the last JSON error body.
error_code() { jq -r '.errors[0].code // empty' <<<"$LAST_BODY" 2>/dev/null || true; }

ADMIN=()  # curl auth args, set once the server runs

# metric 'NAME{labels}': a value from /metrics now (0 when absent).
# metric NAME: its value; in cluster mode, the sum over the replicas.
metric() {
  local u total=0 v
  for u in ${CLUSTER_URLS:-$URL}; do
    v=$(curl -sS "$u/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { printf "%d\n", v + 0 }')
    total=$((total + v))
  done
  echo "$total"
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
sha256_str() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# ------------------------------------------------------------- server ---
# start_server [drydock serve args...]: starts drydock on a free port with
# DATA (default $WORK/data) and the admin password $ADMIN_PASS; waits until
# it answers. Sets SERVER_PID, PORT, REG (host:port) and URL.
start_server() {
  [ -n "${DD_TEST_CLUSTER:-}" ] && { start_cluster "$@"; return; }
  DATA=${DATA:-$WORK/data}
  SERVER_LOG="$WORK/server.$((${SERVER_STARTS:-0} + 1)).log"
  SERVER_STARTS=$((${SERVER_STARTS:-0} + 1))
  local listen="127.0.0.1:${FIXED_PORT:-0}"
  # The tests' git and tarball servers listen on loopback, which server
  # builds may not fetch from by default; tests with a config of their own
  # say so themselves.
  if [[ " $* " != *" --config "* ]]; then
    printf 'builds:\n  allow_private_fetches: true\n' >"$WORK/default-server.yaml"
    set -- --config "$WORK/default-server.yaml" "$@"
  fi
  : >"$SERVER_LOG"
  DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" "$DRYDOCK_BIN" serve --data "$DATA" --listen "$listen" "$@" \
    >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 200); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      SERVER_PID=""
      fail "drydock serve exited during startup"
    fi
    PORT=$(sed -n 's/.*listening on https\{0,1\}:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SERVER_LOG" | head -n1)
    local scheme=http
    grep -q 'listening on https://' "$SERVER_LOG" && scheme=https
    if [ -n "$PORT" ] && curl -sk -o /dev/null "$scheme://127.0.0.1:$PORT/healthz"; then
      REG="127.0.0.1:$PORT"
      URL="$scheme://$REG"
      ADMIN=(-u "admin:$ADMIN_PASS")
      log "drydock pid $SERVER_PID listening on $REG (data $DATA)"
      return 0
    fi
    sleep 0.05
  done
  fail "drydock did not start listening within 10s"
}

# Cluster mode (DD_TEST_CLUSTER=1, for the registry suites): start_server
# brings up scripts/start-cluster.sh instead: PostgreSQL, radosgw and two
# replicas behind HAProxy, which sends each request to the next replica in
# turn. REG and URL name the balancer, so any request of the suite, each
# PATCH of a chunked upload included, may land on either replica.
start_cluster() {
  [ $# = 0 ] || fail "start_server $*: no options in cluster mode"
  local tool
  for tool in radosgw haproxy; do
    command -v $tool >/dev/null || fail "cluster mode needs $tool (scripts/install-deps.sh)"
  done
  local env
  env=$(DRYDOCK_BIN="$DRYDOCK_BIN" DRYDOCK_ADMIN_PASSWORD="$ADMIN_PASS" "$REPO_ROOT/scripts/start-cluster.sh" \
    --replicas 2 --agents 0 --balancer --allow-private-fetches 2>"$WORK/start-cluster.log") ||
    { cat "$WORK/start-cluster.log" >&2; fail "start-cluster.sh"; }
  eval "$env"
  REG=${CLUSTER_URL#http://}
  URL=$CLUSTER_URL
  ADMIN=(-u "admin:$ADMIN_PASS")
  log "cluster: balancer $URL over replicas $CLUSTER_URLS (PostgreSQL + radosgw)"
}

stop_cluster() {
  [ -n "${CLUSTER_DIR:-}" ] || return 0
  CLUSTER_LOGS_TO=$WORK "$REPO_ROOT/scripts/stop-cluster.sh" "$CLUSTER_DIR"
  CLUSTER_DIR=""
}

# server_problems: sanitizer reports in any server log of this test.
server_problems() {
  cat "$WORK"/server.*.log "$WORK"/cluster-*.log 2>/dev/null |
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' | head -n 5 || true
}

# stop_server [quiet]: SIGTERM, then waits; drydock must exit 0 within 20 s
# and without sanitizer reports (unless quiet, as during cleanup).
stop_server() {
  [ -n "${DD_TEST_CLUSTER:-}" ] && { stop_cluster; return; }
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i rc=0
  for i in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "[$TEST_NAME] drydock (pid $SERVER_PID) still running 20 s after SIGTERM; threads:" >&2
    grep -H . /proc/"$SERVER_PID"/status /proc/"$SERVER_PID"/task/*/{comm,wchan,syscall} 2>&1 |
      grep -v 'status:\(Vm\|Rss\|Huge\|Sig\|Cap\|Cpus\|Mems\|voluntary\|nonvol\)' | sed 's/^/  /' >&2 || true
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || rc=$?
  SERVER_PID=""
  SERVER_EXIT=$rc
  [ "${1:-}" = quiet ] && return 0
  [ "$rc" = 0 ] || fail "drydock exited with status $rc after SIGTERM"
  local problems
  problems=$(server_problems)
  [ -z "$problems" ] || fail "sanitizer reports in the server log"
}

kill9_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# free_port: a TCP port nothing on 127.0.0.1 listens on right now.
free_port() {
  local p
  for _ in $(seq 1 100); do
    # Below Linux's ephemeral range (32768+): an outgoing connection's local
    # port there would make a later bind fail with "Address already in use".
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  fail "no free port found"
}

cleanup() {
  local rc=$?
  set +e
  stop_server quiet
  if [ "$rc" -eq 0 ] && [ "${SERVER_EXIT:-0}" != 0 ]; then
    echo "FAIL [$TEST_NAME]: drydock exited with status $SERVER_EXIT after SIGTERM" >&2
    rc=1
  fi
  if [ "$rc" -eq 0 ] && [ -n "$(server_problems)" ]; then
    echo "FAIL [$TEST_NAME]: sanitizer reports in the server log:" >&2
    sanitizer_reports >&2
    rc=1
  fi
  local p
  for p in "${BG_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # buildah/podman may leave mounts under the work directory.
  if [ -d "$WORK/containers" ]; then
    grep -o " $WORK/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  if [ "$rc" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    [ -n "${KEEP_WORK:-}" ] && echo "[$TEST_NAME] work directory kept: $WORK" >&2
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
  else
    rm -rf "$WORK"
  fi
  if [ "$rc" -eq 0 ]; then
    echo "[$TEST_NAME] PASS: $CHECKS checks"
  else
    echo "[$TEST_NAME] FAILED (exit $rc) after $CHECKS passing checks" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$DRYDOCK_BIN" ] || fail "DRYDOCK_BIN=$DRYDOCK_BIN is not an executable"

# ---------------------------------------------------------- OCI layouts ---
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || fail "/bin/busybox (busybox-static) is missing"

# _blob_put LAYOUT FILE: moves FILE into LAYOUT/blobs/sha256/<hex>; prints the hex.
_blob_put() {
  local hex
  hex=$(sha256_of "$2")
  mv "$2" "$1/blobs/sha256/$hex"
  echo "$hex"
}

_blob_size() { stat -c %s "$1/blobs/sha256/$2"; }

# The busybox base layer, built once per test and shared by every image
# (so pushes exercise deduplication); cached as $WORK/.base-layer.tar.gz.
_base_layer() {
  local cache="$WORK/.base-layer"
  if [ ! -f "$cache.tar.gz" ]; then
    local root="$WORK/.base-rootfs"
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc" "$root/tmp"
    cp "$BUSYBOX" "$root/bin/busybox"
    local tool
    for tool in sh echo cat ls true false uname id env sleep; do ln -s busybox "$root/bin/$tool"; done
    echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$cache.tar" -C "$root" .
    gzip -n -c "$cache.tar" >"$cache.tar.gz"
    sha256_of "$cache.tar" >"$cache.diffid"
    rm -rf "$root"
  fi
  echo "$cache"
}

# _image LAYOUT TAG EXTRA ARCH: writes layers, config and manifest blobs for
# one image into LAYOUT; prints "<manifest hex> <manifest size>".
_image() {
  local dir=$1 tag=$2 extra=$3 arch=$4
  local base
  base=$(_base_layer)
  cp "$base.tar.gz" "$dir/.l1"
  local l1 l1_diff
  l1=$(_blob_put "$dir" "$dir/.l1")
  l1_diff=$(cat "$base.diffid")
  # A second layer makes the image unique: its tag, arch and extra content.
  local root="$dir/.rootfs"
  rm -rf "$root"
  mkdir -p "$root/etc"
  printf 'tag=%s\narch=%s\n%s\n' "$tag" "$arch" "$extra" >"$root/etc/drydock-test"
  # IMAGE_RANDOM_KB=N adds N KiB of incompressible data (bigger, slower pushes).
  if [ -n "${IMAGE_RANDOM_KB:-}" ]; then head -c "$((IMAGE_RANDOM_KB * 1024))" /dev/urandom >"$root/etc/drydock-random"; fi
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$dir/.l2.tar" -C "$root" .
  rm -rf "$root"
  local l2_diff l2
  l2_diff=$(sha256_of "$dir/.l2.tar")
  gzip -n -c "$dir/.l2.tar" >"$dir/.l2"
  rm -f "$dir/.l2.tar"
  l2=$(_blob_put "$dir" "$dir/.l2")
  jq -cn --arg arch "$arch" --arg d1 "sha256:$l1_diff" --arg d2 "sha256:$l2_diff" --arg tag "$tag" '{
      created: "1970-01-01T00:00:00Z", architecture: $arch, os: "linux",
      config: {Env: ["PATH=/bin"], Cmd: ["/bin/sh"], Labels: {"drydock.test.tag": $tag}},
      rootfs: {type: "layers", diff_ids: [$d1, $d2]},
      history: [{created: "1970-01-01T00:00:00Z", created_by: "busybox"},
                {created: "1970-01-01T00:00:00Z", created_by: "drydock-test"}]}' >"$dir/.cfg"
  local cfg
  cfg=$(_blob_put "$dir" "$dir/.cfg")
  jq -cn --arg cfg "sha256:$cfg" --argjson cs "$(_blob_size "$dir" "$cfg")" \
    --arg l1 "sha256:$l1" --argjson s1 "$(_blob_size "$dir" "$l1")" \
    --arg l2 "sha256:$l2" --argjson s2 "$(_blob_size "$dir" "$l2")" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l1, size: $s1},
               {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l2, size: $s2}]}' >"$dir/.man"
  local man
  man=$(_blob_put "$dir" "$dir/.man")
  echo "$man $(_blob_size "$dir" "$man")"
}

_layout_init() {
  mkdir -p "$1/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
  [ -f "$1/index.json" ] || echo '{"schemaVersion":2,"manifests":[]}' >"$1/index.json"
}

# _layout_add_ref LAYOUT MEDIATYPE HEX SIZE TAG: (re)points TAG in index.json.
_layout_add_ref() {
  jq --arg mt "$2" --arg d "sha256:$3" --argjson s "$4" --arg tag "$5" '
    .manifests |= (map(select(.annotations["org.opencontainers.image.ref.name"] != $tag))
      + [{mediaType: $mt, digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": $tag}}])' \
    "$1/index.json" >"$1/index.json.new"
  mv "$1/index.json.new" "$1/index.json"
}

# make_busybox_layout DIR TAG [EXTRA]: a real OCI image layout at DIR with a
# linux/amd64 busybox image under TAG (rootfs = busybox layer + a small
# layer naming TAG and EXTRA, so different arguments give different
# digests; IMAGE_ARCH and IMAGE_RANDOM_KB vary it further). Prints the
# manifest digest.
make_busybox_layout() {
  local dir=$1 tag=$2 extra=${3:-}
  _layout_init "$dir"
  local out m
  out=$(_image "$dir" "$tag" "$extra" "${IMAGE_ARCH:-amd64}")
  read -r -a m <<<"$out"
  _layout_add_ref "$dir" application/vnd.oci.image.manifest.v1+json "${m[0]}" "${m[1]}" "$tag"
  echo "sha256:${m[0]}"
}

# make_multiarch_layout DIR TAG [EXTRA]: an OCI image index under TAG with
# linux/amd64 and linux/arm64 manifests. Prints the index digest.
make_multiarch_layout() {
  local dir=$1 tag=$2 extra=${3:-}
  _layout_init "$dir"
  local out a b
  out=$(_image "$dir" "$tag" "$extra" amd64)
  read -r -a a <<<"$out"
  out=$(_image "$dir" "$tag" "$extra" arm64)
  read -r -a b <<<"$out"
  jq -cn --arg a "sha256:${a[0]}" --argjson sa "${a[1]}" --arg b "sha256:${b[0]}" --argjson sb "${b[1]}" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $a, size: $sa,
         platform: {architecture: "amd64", os: "linux"}},
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $b, size: $sb,
         platform: {architecture: "arm64", os: "linux"}}]}' >"$dir/.idx"
  local idx
  idx=$(_blob_put "$dir" "$dir/.idx")
  _layout_add_ref "$dir" application/vnd.oci.image.index.v1+json "$idx" "$(_blob_size "$dir" "$idx")" "$tag"
  echo "sha256:$idx"
}

# push_rootfs REPO:TAG DIR [ARCH]: pushes the root filesystem DIR (as root,
# owners kept) as a one-layer linux/ARCH (default amd64) image.
push_rootfs() {
  local dir="$WORK/layouts/${1//[:\/]/_}-rootfs" arch=${3:-amd64} layer diff cfg man
  rm -rf "$dir"
  _layout_init "$dir"
  tar --sort=name --numeric-owner -cf "$dir/.l.tar" -C "$2" .
  diff=$(sha256_of "$dir/.l.tar")
  gzip -n -1 -c "$dir/.l.tar" >"$dir/.l"
  rm -f "$dir/.l.tar"
  layer=$(_blob_put "$dir" "$dir/.l")
  jq -cn --arg d "sha256:$diff" --arg arch "$arch" '{created: "1970-01-01T00:00:00Z", architecture: $arch, os: "linux",
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["bash"]},
      rootfs: {type: "layers", diff_ids: [$d]},
      history: [{created: "1970-01-01T00:00:00Z", created_by: "push_rootfs"}]}' >"$dir/.cfg"
  cfg=$(_blob_put "$dir" "$dir/.cfg")
  jq -cn --arg cfg "sha256:$cfg" --argjson cs "$(_blob_size "$dir" "$cfg")" \
    --arg l "sha256:$layer" --argjson s "$(_blob_size "$dir" "$layer")" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $s}]}' >"$dir/.man"
  man=$(_blob_put "$dir" "$dir/.man")
  _layout_add_ref "$dir" application/vnd.oci.image.manifest.v1+json "$man" "$(_blob_size "$dir" "$man")" x
  push_layout "$dir" x "$1"
}

# debian_rootfs DIR: a Debian 12 minbase root filesystem at DIR, as
# debootstrap makes it (without /dev's device nodes and apt's lists, as
# Debian's own images). debootstrap runs once per machine (about a minute,
# several under load); its result is cached in $DRYDOCK_TEST_CACHE.
debian_rootfs() {
  command -v debootstrap >/dev/null || fail "debootstrap is missing (scripts/install-deps.sh installs it)"
  local cache=${DRYDOCK_TEST_CACHE:-/var/cache/drydock-tests}
  local tarball="$cache/debian-bookworm-minbase.tar"
  mkdir -p "$cache"
  (
    flock 9  # tests running in parallel wait for one debootstrap
    [ -f "$tarball" ] && exit 0
    root=$(mktemp -d "$cache/debootstrap.XXXXXX")
    trap 'rm -rf "$root" "$tarball.new"' EXIT
    log "debootstrap --variant=minbase bookworm (cached in $cache)"
    debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
    tar --sort=name --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' -cf "$tarball.new" -C "$root" .
    mv "$tarball.new" "$tarball"
  ) 9>"$cache/.lock" || fail "debootstrap of Debian bookworm failed (log above)"
  rm -rf "$1"
  mkdir -p "$1"
  tar -xf "$tarball" -C "$1"
}

# layout_digest DIR TAG: the digest index.json gives for TAG.
layout_digest() {
  jq -r --arg tag "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $tag) | .digest' \
    "$1/index.json"
}

# layout_blob DIR DIGEST: the path of a blob in a layout.
layout_blob() { echo "$1/blobs/${2%%:*}/${2#*:}"; }

# push_layout DIR TAG REPO:TAG [skopeo copy args...]: copies into drydock as admin.
push_layout() {
  local dir=$1 tag=$2 dest=$3
  shift 3
  skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false "$@" "oci:$dir:$tag" "docker://$REG/$dest" \
    >"$WORK/.skopeo.out" 2>&1 || { cat "$WORK/.skopeo.out" >&2; fail "skopeo copy oci:$dir:$tag -> $REG/$dest failed"; }
}

# patch_chunks LOCATION FILE@BASE_URL...: sends each FILE in turn as the
# next chunk of one upload (PATCH with its Content-Range) through the server
# at BASE_URL, as admin; asserts each is taken (202).
patch_chunks() {
  local loc=$1 offset=0 spec file base size code
  shift
  for spec in "$@"; do
    file=${spec%%@*} base=${spec#*@}
    size=$(stat -c %s "$file")
    code=$(curl -sS -o "$WORK/.patch.body" -w '%{http_code}' -X PATCH "${ADMIN[@]}" \
      -H 'Content-Type: application/octet-stream' -H "Content-Range: $offset-$((offset + size - 1))" \
      --data-binary "@$file" "$base$loc")
    assert_eq 202 "$code" "chunk $(basename "$file") through $base ($(cat "$WORK/.patch.body"))"
    offset=$((offset + size))
  done
}

# upload_blob REPO FILE: monolithic POST+PUT as admin; prints the digest.
upload_blob() {
  local repo=$1 file=$2 d loc
  d="sha256:$(sha256_of "$file")"
  req POST "/v2/$repo/blobs/uploads/" "${ADMIN[@]}"
  [ "$STATUS" = 202 ] || fail "upload_blob: POST returned $STATUS"
  loc=$(header Location)
  req PUT "$loc?digest=$d" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' --data-binary "@$file"
  [ "$STATUS" = 201 ] || fail "upload_blob: PUT returned $STATUS: $LAST_BODY"
  echo "$d"
}

# put_manifest REPO REF FILE [MEDIATYPE]: PUT as admin; sets STATUS etc.
put_manifest() {
  req PUT "/v2/$1/manifests/$2" "${ADMIN[@]}" -H "Content-Type: ${4:-application/vnd.oci.image.manifest.v1+json}" \
    --data-binary "@$3"
}

# wait_port PORT WHAT: until something accepts connections on 127.0.0.1:PORT.
wait_port() {
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  fail "$2 did not start on port $1"
}

# ------------------------------------------------------------- client ---
drydock() { "$DRYDOCK_BIN" "$@"; }

# serve_www: busybox httpd serving $WORK/www (build contexts, tarballs) on a
# free loopback port until the test ends; sets WWW_URL.
serve_www() {
  mkdir -p "$WORK/www"
  local port
  port=$(free_port)
  /bin/busybox httpd -f -p "127.0.0.1:$port" -h "$WORK/www" &
  BG_PIDS+=($!)
  wait_port "$port" "busybox httpd"
  WWW_URL="http://127.0.0.1:$port"
}

# client_login: `drydock login` as admin to the running server (the client's
# config under $WORK/config).
client_login() {
  export XDG_CONFIG_HOME="$WORK/config"
  printf '%s' "$ADMIN_PASS" | drydock login "$REG" -u admin --password-stdin >/dev/null 2>&1 ||
    fail "drydock login"
}

# push_base REPO:TAG VERSION: a busybox image whose /etc/drydock-test ends
# with VERSION, pushed to the running server.
push_base() {
  local dir="$WORK/layouts/${1//[:\/]/_}-$2"
  make_busybox_layout "$dir" 1 "$2" >/dev/null
  push_layout "$dir" 1 "$1"
}

# ------------------------------------------------------------ task runs ---
# digest_of REPO:TAG: the manifest digest of an image in the test registry.
digest_of() { skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/$1" | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/'; }
# Build agents (`drydock agent`) of the server started by start_server.
declare -A TOKEN AGENT_PID
agent_token() { # agent_token NAME: an admin makes the agent's token
  TOKEN[$1]=$(drydock agent token create "$1" --description "test agent $1" 2>"$WORK/token-$1.err") ||
    { cat "$WORK/token-$1.err" >&2; fail "agent token create $1"; }
}
# start_agent NAME [drydock agent args...]: its log is a server.*.log, so
# that sanitizer reports in it fail the test.
start_agent() {
  local name=$1
  shift
  DRYDOCK_AGENT_TOKEN="${TOKEN[$name]}" "$DRYDOCK_BIN" agent --server "$URL" --name "$name" \
    --state "$WORK/agent-$name" --allow-private-fetches "$@" >>"$WORK/server.agent-$name.log" 2>&1 &
  AGENT_PID[$name]=$!
  BG_PIDS+=($!)
}
runs_json() { drydock run list --top 200 -o json ${1:+--task "$1"}; }
run_count() { runs_json "$1" | jq length; }
newest_run() { runs_json "$1" | jq -r '.[0].runId // empty'; }
run_field() { drydock run show "$1" | jq -r "$2"; }
# wait_count TASK N SECONDS: until TASK has at least N runs.
wait_count() {
  local n=0
  for _ in $(seq 1 $(($3 * 10))); do
    n=$(run_count "$1")
    [ "$n" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "task $1 has $n runs after $3 s, expected $2"
}
# wait_idle SECONDS: until no run is queued or running.
wait_idle() {
  local busy=""
  for _ in $(seq 1 $(($1 * 4))); do
    busy=$(runs_json | jq -r '[.[] | select(.status == "Queued" or .status == "Started" or .status == "Running") | .runId] | join(" ")')
    [ -z "$busy" ] && return 0
    sleep 0.25
  done
  fail "runs still busy after $1 s: $busy"
}
# all_succeeded TASK: every run of TASK succeeded.
all_succeeded() {
  local bad
  bad=$(runs_json "$1" | jq -r '[.[] | select(.status != "Succeeded") | "\(.runId)=\(.status)"] | join(" ")')
  [ -z "$bad" ] || { drydock run logs "${bad%%=*}" | tail -n 15 >&2; fail "runs of $1 not successful: $bad"; }
}
# file_in REF PATH: a file's content in a pushed image.
file_in() {
  rootfs "$1" "$WORK/fs"
  cat "$WORK/fs/$2"
}

# ------------------------------------------------------------- builds ---
# use_build_env: drydock build state under $WORK and a Docker config with
# the admin's credentials for the running server (call after start_server).
use_build_env() {
  export DRYDOCK_BUILD_STATE="$WORK/build-state"
  export DOCKER_CONFIG="$WORK/docker"
  mkdir -p "$DOCKER_CONFIG"
  jq -n --arg reg "$REG" --arg auth "$(printf 'admin:%s' "$ADMIN_PASS" | base64 -w0)" \
    '{auths: {($reg): {auth: $auth}}}' >"$DOCKER_CONFIG/config.json"
}

# build NAME [drydock build args...]: builds the context $WORK/NAME, logs to
# $WORK/NAME.log, prints the digest.
build() {
  local name=$1
  shift
  "$DRYDOCK_BIN" build --local "$@" "$WORK/$name" >"$WORK/$name.out" 2>"$WORK/$name.log" ||
    { tail -n 20 "$WORK/$name.log" >&2; fail "drydock build $name failed"; }
  head -n1 "$WORK/$name.out"
}

# dockerfile FILE: writes FILE from stdin (its directory created), with
# @REG@ standing for the test registry.
dockerfile() {
  mkdir -p "$(dirname "$1")"
  sed "s|@REG@|$REG|g" >"$1"
}

# expect_build_failure NAME MESSAGE [drydock build args...]
expect_build_failure() {
  local name=$1 message=$2
  shift 2
  if "$DRYDOCK_BIN" build --local "$@" "$WORK/$name" >"$WORK/$name.out" 2>"$WORK/$name.log"; then
    fail "build $name $* should fail"
  fi
  assert_contains "$(cat "$WORK/$name.log")" "$message" "error of build $name"
}

# config_of REPO:TAG: the image config blob of an image in the test registry.
config_of() {
  skopeo inspect --config --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/$1"
}

# rootfs REPO:TAG DIR: pulls an image from the test registry and applies its
# layers in order into DIR (as root, so owners and modes are kept): each
# layer's whiteouts delete from the layers below, then its other entries are
# extracted.
rootfs() {
  local ref=$1 dir=$2
  rm -rf "$dir" "$dir.oci"
  skopeo copy -q --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" "docker://$REG/$ref" "oci:$dir.oci:x" >/dev/null
  mkdir -p "$dir"
  local manifest layer path wh base parent
  manifest=$(layout_blob "$dir.oci" "$(layout_digest "$dir.oci" x)")
  for layer in $(jq -r '.layers[].digest' "$manifest"); do
    path=$(layout_blob "$dir.oci" "$layer")
    while read -r wh; do
      base=$(basename "$wh")
      parent="$dir/$(dirname "$wh")"
      if [ "$base" = .wh..wh..opq ]; then
        [ ! -d "$parent" ] || find "$parent" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
      else
        rm -rf "${parent:?}/${base#.wh.}"
      fi
    done < <(tar -tzf "$path" | grep -E '(^|/)\.wh\.' || true)
    tar -xzf "$path" -C "$dir" --exclude='.wh.*' --exclude='*/.wh.*'
  done
  rm -rf "$dir.oci"
}
