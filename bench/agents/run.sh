#!/usr/bin/env bash
# The run queue and build agents (issue 13). Reports
#   - dispatch latency: a run queued -> Started on an idle agent, for the
#     embedded agent and for a remote `drydock agent`: p50/p95 of RUNS (40)
#     runs queued one at a time, the client polling GET /api/v1/runs/ID every
#     10 ms (so up to 10 ms late). Target p95 < 250 ms.
#   - claims per second on the embedded SQLite store (bench_claims: claim +
#     lease renewal + fenced completion per run, 1/2/4 agents at once).
#   - BUILDS (20) queued builds with one remote agent, then with two (each
#     building one run at a time, each with its own cache), and the same
#     builds with buildah one after another (the peer; one shared cache).
# Run it on a quiet machine: on 2 cores two agents compete for the CPU the
# builds need, so the gain is bounded by it.
#
#   bench/agents/run.sh [--runs N] [--builds N] [--keep]
set -euo pipefail
shopt -s inherit_errexit
RUNS=40 BUILDS=20 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --builds) BUILDS=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/agents/run.sh [--runs N] [--builds N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir agents
cmake --build "$BENCH_ROOT/build-release" --target bench_claims >/dev/null
CLAIMS_BIN=$BENCH_ROOT/build-release/bench/bench_claims

log "claims per second on SQLite"
CLAIMS=$("$CLAIMS_BIN" "$WORK" 2000 1 2 4)
echo "$CLAIMS" >&2

# percentile P: of the numbers on stdin.
percentile() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'; }
runs_api() { curl -sS -u "admin:$PASS" "$@"; }
# dispatch: RUNS runs queued one at a time; prints each queued->Started in ms.
dispatch() {
  local i id t0 status
  for i in $(seq "$RUNS"); do
    t0=$(now)
    id=$(runs_api -H 'Content-Type: application/json' \
      -d '{"type": "QuickBuild", "source": "/dev/null", "noPush": true}' \
      "http://$REG/api/v1/runs" | jq -r .runId)
    while true; do
      status=$(runs_api "http://$REG/api/v1/runs/$id" | jq -r .status)
      [[ $status != Queued ]] && break
      sleep 0.01
    done
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'
    while [[ $(runs_api "http://$REG/api/v1/runs/$id" | jq -r .status) =~ ^(Started|Running)$ ]]; do
      sleep 0.02
    done
  done
}
# start_agent NAME: a remote agent of the running server.
start_agent() {
  local token
  token=$("$BIN" agent token create "$1" 2>/dev/null)
  DRYDOCK_AGENT_TOKEN=$token "$BIN" agent --server "http://$REG" --name "$1" \
    --state "$WORK/agent-$1" --allow-private-fetches >"$WORK/agent-$1.log" 2>&1 &
  AGENT_PIDS+=($!)
  PIDS+=($!)
  for _ in $(seq 100); do
    [[ $("$BIN" agent list -o json | jq --arg n "$1" '[.[] | select(.name == $n)] | length') == 1 ]] && return
    sleep 0.1
  done
  cat "$WORK/agent-$1.log" >&2
  exit 1
}
stop_agents() {
  for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done
  AGENT_PIDS=()
}

log "dispatch latency, embedded agent"
bench_serve "$WORK/data-embedded" "builds: {concurrency: 1}"
EMBEDDED=$(dispatch)
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" || true

log "dispatch latency, remote agent"
bench_serve "$WORK/data" "builds: {concurrency: 0, allow_private_fetches: true}"
AGENT_PIDS=()
start_agent d1
REMOTE=$(dispatch)
stop_agents

log "$BUILDS builds: the context (a tarball URL every run can use)"
bench_busybox_base base:1 v1
mkdir -p "$WORK/www" "$WORK/ctx"
cat >"$WORK/ctx/Dockerfile" <<EOF2
FROM $REG/base:1
ARG N
RUN for i in \$(seq 1 3000); do echo "\$N \$i" > /f\$i; done && md5sum /f1 > /sum
RUN for i in \$(seq 1 300); do cat /f\$i; done | md5sum > /all
EOF2
tar -czf "$WORK/www/ctx.tar.gz" -C "$WORK/ctx" .
HPORT=$((20000 + RANDOM % 12000))
busybox httpd -f -p "127.0.0.1:$HPORT" -h "$WORK/www" &
PIDS+=($!)
sleep 0.3
# queued_builds TAG: queues BUILDS builds, waits for all; prints the wall seconds.
queued_builds() {
  local t0 i ids=() left
  t0=$(now)
  for i in $(seq "$BUILDS"); do
    ids+=("$(runs_api -H 'Content-Type: application/json' -d "$(jq -n --arg src "http://127.0.0.1:$HPORT/ctx.tar.gz" \
      --arg tag "$1-$i" --arg n "$1-$i" \
      '{type: "QuickBuild", source: $src, images: ["bench/app:\($tag)"], buildArgs: [{name: "N", value: $n}]}')" \
      "http://$REG/api/v1/runs" | jq -r .runId)")
  done
  while true; do
    left=$(runs_api "http://$REG/api/v1/runs?top=1000" |
      jq '[.runs[] | select(.status == "Queued" or .status == "Started" or .status == "Running")] | length')
    [[ $left == 0 ]] && break
    sleep 0.2
  done
  secs "$t0" "$(now)"
}
start_agent b1
ONE=$(queued_builds one)
start_agent b2
TWO=$(queued_builds two)
stop_agents
FAILED=$(runs_api "http://$REG/api/v1/runs?top=1000" |
  jq '[.runs[] | select(.source.url | test("ctx.tar.gz")) | select(.status != "Succeeded")] | length')

log "the same builds with buildah, one after another"
BUILDAH_T0=$(now)
for i in $(seq "$BUILDS"); do
  buildah --root "$WORK/bh-root" --runroot "$WORK/bh-run" --storage-driver overlay bud \
    --isolation oci --layers --tls-verify=false --creds "admin:$PASS" --format oci \
    --build-arg "N=bh-$i" -t "bench-bh:$i" "$WORK/ctx" >"$WORK/buildah.log" 2>&1 ||
    { tail -n 20 "$WORK/buildah.log" >&2; exit 1; }
done
BUILDAH=$(secs "$BUILDAH_T0" "$(now)")

p() { percentile "$2" <<<"$1"; }
echo
echo "| dispatch (queued -> Started, ms) | p50 | p95 | max |"
echo "|---|---|---|---|"
echo "| embedded agent | $(p "$EMBEDDED" 50) | $(p "$EMBEDDED" 95) | $(p "$EMBEDDED" 100) |"
echo "| remote agent (HTTP long poll) | $(p "$REMOTE" 50) | $(p "$REMOTE" 95) | $(p "$REMOTE" 100) |"
echo
echo "| SQLite queue | result |"
echo "|---|---|"
while read -r line; do echo "| ${line%% *} | ${line#* } |"; done <<<"$CLAIMS"
echo
echo "| $BUILDS queued builds | seconds | vs one agent | vs buildah one after another |"
echo "|---|---|---|---|"
echo "| one remote agent | $ONE | 1.00 | $(awk -v a="$ONE" -v b="$BUILDAH" 'BEGIN { printf "%.2f", a / b }') |"
echo "| two remote agents | $TWO | $(awk -v a="$TWO" -v b="$ONE" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$TWO" -v b="$BUILDAH" 'BEGIN { printf "%.2f", a / b }') |"
echo "| buildah bud, one after another | $BUILDAH | | 1.00 |"
echo "(runs that failed or errored: $FAILED)"
