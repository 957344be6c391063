#!/usr/bin/env bash
# What the build sandbox costs: RUN steps in a network namespace of their own
# with NAT (slirp4netns), cgroup limits and seccomp, against the same builds
# on the host's network (`RUN --network=host`, `--allow network.host`), and
# the same two ways for buildah (`bud --isolation oci`: its private CNI
# network vs `--network host`), in the same run:
#
#   bench/sandbox/run.sh [--quick] [--keep]
#
#   steps     STEPS RUN steps that do nothing: the per-step cost of the
#             namespace, the NAT, the cgroup and the spec
#   download  one RUN fetching DOWNLOAD_MIB MiB over HTTP from a server in a
#             network namespace of the benchmark's own (198.51.100.0/30 on
#             a veth pair): the NAT's throughput
#
# Prints a markdown table: seconds for each tool and network, the sandbox's
# cost as a ratio to the host network for each tool, and drydock's sandbox
# against buildah's private network. Median of REPEAT (3, --quick 1).
# Needs root, slirp4netns, buildah and containernetworking-plugins.
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/../flags.sh" "$@"
if [[ $MODE == full ]]; then : "${REPEAT:=3}" "${STEPS:=20}" "${DOWNLOAD_MIB:=256}"; else : "${REPEAT:=1}" "${STEPS:=5}" "${DOWNLOAD_MIB:=32}"; fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir sandbox
bench_serve "$WORK/registry" 'auth: {anonymous_pull: ["*"]}'
log "base image: busybox built by drydock, pushed to $REG/base/busybox:1"
bench_busybox_base base/busybox:1

# The download server: busybox httpd in a namespace of our own.
NS=ddbench$RANDOM
HOST_IP=198.51.100.221 SERVER_IP=198.51.100.222
cleanup_ns() {
  pkill -f "[b]usybox httpd -p $SERVER_IP:8080" 2>/dev/null || true
  ip link del "${NS}a" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  bench_cleanup
}
trap cleanup_ns EXIT
ip netns add "$NS"
ip link add "${NS}a" type veth peer name "${NS}b"
ip link set "${NS}b" netns "$NS"
ip addr add "$HOST_IP/30" dev "${NS}a" && ip link set "${NS}a" up
ip netns exec "$NS" sh -c "ip addr add $SERVER_IP/30 dev ${NS}b && ip link set ${NS}b up && ip link set lo up"
mkdir -p "$WORK/www"
head -c $((DOWNLOAD_MIB << 20)) /dev/urandom >"$WORK/www/blob"
ip netns exec "$NS" busybox httpd -p "$SERVER_IP:8080" -h "$WORK/www"
for _ in $(seq 50); do curl -sf -o /dev/null "http://$SERVER_IP:8080/blob" && break; sleep 0.1; done

# make_context DIR SCENARIO NETWORK_FLAG: a Dockerfile whose RUN steps carry
# NETWORK_FLAG ("" or "--network=host"); a nonce so no cache applies.
make_context() {
  local dir=$1 scenario=$2 flag=$3
  mkdir -p "$dir"
  {
    echo "FROM $REG/base/busybox:1"
    echo "ARG NONCE=$RANDOM$RANDOM"
    if [[ $scenario == steps ]]; then
      for i in $(seq 1 "$STEPS"); do echo "RUN $flag echo \$NONCE $i >/dev/null"; done
    else
      # Fails the build unless every byte arrived (a pipe would hide a failed wget).
      echo "RUN $flag test \"\$(wget -q -O - http://$SERVER_IP:8080/blob | wc -c)\" = $((DOWNLOAD_MIB << 20))"
    fi
  } >"$dir/Dockerfile"
}

drydock_build() { "$BIN" build --local --allow network.host --state "$WORK/dd-state" "$1"; }
# buildah's Dockerfile RUN takes only --mount: its network is the command's
# (--network host, or its private CNI network).
buildah_build() {
  local net=private
  [[ $1 == *-host ]] && net=host
  buildah --root "$WORK/bh-root" --runroot "$WORK/bh-run" --storage-driver overlay bud \
    --isolation oci --network "$net" --layers --tls-verify=false --format oci -t bench:latest "$1"
}

declare -A RESULTS
for rep in $(seq 1 "$REPEAT"); do
  for scenario in steps download; do
    for tool in drydock buildah; do
      for net in sandbox host; do
        flag=""
        [[ $net == host && $tool == drydock ]] && flag="--network=host"
        ctx="$WORK/ctx-$rep-$scenario-$tool-$net"
        make_context "$ctx" "$scenario" "$flag"
        log "repetition $rep: $scenario, $tool, $net"
        RESULTS[$scenario.$tool.$net]+="$(seconds "${tool}_build" "$ctx") "
      done
    done
  done
done

echo
echo "Sandbox benchmark ($MODE: $STEPS RUN steps; a $DOWNLOAD_MIB MiB download; median of $REPEAT)"
echo
echo "| scenario | drydock sandbox (s) | drydock host net (s) | sandbox/host | buildah private (s) | buildah host net (s) | private/host | drydock sandbox / buildah private |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for s in steps download; do
  ds=$(median <<<"${RESULTS[$s.drydock.sandbox]}") dh=$(median <<<"${RESULTS[$s.drydock.host]}")
  bs=$(median <<<"${RESULTS[$s.buildah.sandbox]}") bh=$(median <<<"${RESULTS[$s.buildah.host]}")
  awk -v s="$s" -v ds="$ds" -v dh="$dh" -v bs="$bs" -v bh="$bh" 'BEGIN {
    printf "| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2fx |\n", s, ds, dh, ds / dh, bs, bh, bs / bh, ds / bs }'
done
