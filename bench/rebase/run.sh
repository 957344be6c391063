#!/usr/bin/env bash
# Patching dependents when their base moves: rebase vs rebuild. TASKS tasks
# (default 100) build the usual two-stage Dockerfile FROM one base: a build
# stage that does the app's own work (a RUN writing WORK_FILES files,
# default 2000, different per task through its build argument, as each
# app compiles its own code), and a final stage that copies the result onto
# the base (rebase-eligible: no RUN after its FROM). Then
#   - base v2 pushed with the default patch mode (auto: rebased), and
#   - base v3 pushed after `task update --patch-mode rebuild` on every task,
# each timed from the push returning to every dependent pushed, and to the
# first patched run finishing. Same tasks, images and machine in one run.
# Targets: rebase of all TASKS under 5 s and at most 1/20 of the rebuild.
#
#   bench/rebase/run.sh [--tasks N] [--keep]
#
# CONCURRENCY (default 4) is the server's concurrent runs for both. Needs root.
set -euo pipefail
shopt -s inherit_errexit
TASKS=100 KEEP=0 WORK_FILES=${WORK_FILES:-2000}
while [[ $# -gt 0 ]]; do
  case $1 in
    --tasks) TASKS=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/rebase/run.sh [--tasks N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir rebase
CONCURRENCY=${CONCURRENCY:-4}
bench_serve "$WORK/data" "builds: {concurrency: $CONCURRENCY, allow_private_fetches: true}"
"$BIN" login "$REG" -u admin -p "$PASS" >/dev/null 2>&1

log "base v1 and the application's context"
bench_busybox_base base:1 v1
mkdir -p "$WORK/www/app"
echo app >"$WORK/www/app/app.txt"
cat >"$WORK/www/app/Dockerfile" <<EOF
FROM $REG/base:1 AS build
ARG N
RUN mkdir /out && for i in \$(seq 1 $WORK_FILES); do echo "object \$N \$i" > /out/obj-\$i.o; done
RUN echo "app \$N" > /out/app
FROM $REG/base:1
COPY --from=build /out/ /app/
COPY app.txt /app/
CMD ["/bin/cat", "/app/app"]
EOF
tar -czf "$WORK/www/app.tar.gz" -C "$WORK/www/app" .
HPORT=$((20000 + RANDOM % 12000))
busybox httpd -f -p "127.0.0.1:$HPORT" -h "$WORK/www" &
PIDS+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$HPORT/app.tar.gz" && break; sleep 0.05; done

log "$TASKS tasks, each built once on v1"
for i in $(seq "$TASKS"); do
  "$BIN" task create -n app$i -c "http://127.0.0.1:$HPORT/app.tar.gz" -t bench/app$i:1 --arg N=$i >/dev/null
  "$BIN" task run -n app$i --no-wait >/dev/null
done
runs_json() { curl -s -u "admin:$PASS" "http://$REG/api/v1/runs?top=1000"; }
# "DONE UNFINISHED FAILED" of the runs queued by base digest DIGEST.
progress() {
  runs_json | jq -r --arg d "$1" '[.runs[] | select(.imageUpdateTrigger.images[0].digest == $d)] |
    "\([.[] | select(.status == "Succeeded")] | length) \([.[] | select(.status == "Queued" or .status == "Started" or .status == "Running")] | length) \([.[] | select(.status == "Failed" or .status == "Error")] | length)"'
}
while [[ $(runs_json | jq '[.runs[] | select(.status == "Queued" or .status == "Started" or .status == "Running")] | length') -gt 0 ]]; do sleep 0.5; done
[[ $(runs_json | jq '[.runs[] | select(.status != "Succeeded")] | length') == 0 ]] || { echo "a first build failed" >&2; exit 1; }

# patch VERSION KIND: pushes base VERSION (built and cached first, so the
# timed part is the push) and times it to the first and to every dependent
# patched; sets FIRST, ALL; checks every run's patch kind is KIND.
patch() {
  local dir="$WORK/base-$1"
  bench_busybox_base "base:$1" "$1"
  local digest t_pushed t_first="" done busy failed
  "$BIN" build --local --state "$WORK/state" -t "$REG/base:1" --push "$dir" >/dev/null 2>&1
  t_pushed=$(now)
  digest=$(curl -s -u "admin:$PASS" -o /dev/null -w '%header{docker-content-digest}' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/base/manifests/1")
  while read -r done busy failed < <(progress "$digest"); [[ $done -lt $TASKS ]]; do
    [[ $failed == 0 ]] || { echo "$failed patch runs failed" >&2; exit 1; }
    [[ -z $t_first && $done -gt 0 ]] && t_first=$(now)
    sleep 0.05
  done
  [[ -n $t_first ]] || t_first=$(now)
  FIRST=$(secs "$t_pushed" "$t_first")
  ALL=$(secs "$t_pushed" "$(now)")
  local kinds
  kinds=$(runs_json | jq -r --arg d "$digest" '[.runs[] | select(.imageUpdateTrigger.images[0].digest == $d) | .patch.kind] | unique | join(",")')
  [[ $kinds == "$2" ]] || { echo "expected every run to $2, got: $kinds" >&2; exit 1; }
  # The median run from its start to its end, and (rebase) the patch step within it.
  RUN_MEDIAN=$(runs_json | jq -r --arg d "$digest" '[.runs[] | select(.imageUpdateTrigger.images[0].digest == $d) |
    ((.finishTime | fromdateiso8601) - (.startTime | fromdateiso8601))] | sort | .[length / 2 | floor]')
  PATCH_MS=$(runs_json | jq -r --arg d "$digest" '[.runs[] | select(.imageUpdateTrigger.images[0].digest == $d) |
    .patch.milliseconds] | sort | .[length / 2 | floor]')
}

log "base v2: patch mode auto (rebase)"
patch v2 rebase
REBASE_FIRST=$FIRST REBASE_ALL=$ALL REBASE_PATCH_MS=$PATCH_MS
log "base v3: patch mode rebuild"
for i in $(seq "$TASKS"); do "$BIN" task update -n app$i --patch-mode rebuild >/dev/null; done
patch v3 rebuild
REBUILD_FIRST=$FIRST REBUILD_ALL=$ALL REBUILD_RUN=$RUN_MEDIAN

cat <<EOF

Base update -> $TASKS dependent images patched and pushed ($(nproc) CPUs, $CONCURRENCY concurrent runs, build stage writing $WORK_FILES files)

| measure | rebase | rebuild | rebase / rebuild | target |
|---|---:|---:|---:|---|
| push -> first patched image pushed (s) | $REBASE_FIRST | $REBUILD_FIRST | $(awk -v a="$REBASE_FIRST" -v b="$REBUILD_FIRST" 'BEGIN { printf "%.3f", a / b }') | |
| push -> all $TASKS patched and pushed (s) | $REBASE_ALL | $REBUILD_ALL | $(awk -v a="$REBASE_ALL" -v b="$REBUILD_ALL" 'BEGIN { printf "%.3f", a / b }') | rebase < 5 s, ratio <= 0.05 |
| median rebase step in a run (decide, mount, push; ms) | $REBASE_PATCH_MS | | | |
| median rebuild run, start to end (s, whole seconds) | | $REBUILD_RUN | | |
EOF
