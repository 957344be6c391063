#!/usr/bin/env bash
# The base-image trigger at work: TASKS tasks (default 20) build FROM the same
# base; pushing a new base digest rebuilds and pushes all of them. Reports
#   - push -> first dependent run queued (target < 1 s), the time from
#     skopeo/drydock returning to the run appearing in GET /api/v1/runs
#     (polled every 20 ms, so up to 20 ms late);
#   - push -> all TASKS runs finished and pushed, with the server's default
#     2 concurrent runs and its shared build cache;
#   - the same TASKS images built one after another with
#     `drydock build --local --push`, each with a fresh cache (what a CI job
#     per image does), and one after another sharing one cache.
# Target: triggered <= 0.5x one-after-another (fresh caches).
#
#   bench/triggers/run.sh [--tasks N] [--keep]
#
# Each application copies 300 small files, runs a step common to all of them
# (writing SHARED_FILES files, default 3000: their shared dependencies), a
# step with its own build arg (so one RUN per image, under runc) and copies
# one file. SHARED_FILES=1 makes every build all its own work. Needs root.
set -euo pipefail
shopt -s inherit_errexit
TASKS=20 KEEP=0 SHARED_FILES=${SHARED_FILES:-3000}
while [[ $# -gt 0 ]]; do
  case $1 in
    --tasks) TASKS=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/triggers/run.sh [--tasks N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir triggers
CONCURRENCY=${CONCURRENCY:-2}
bench_serve "$WORK/data" "builds: {concurrency: $CONCURRENCY}"
"$BIN" login "$REG" -u admin -p "$PASS" >/dev/null 2>&1

log "base image v1 and a git repository with the application"
bench_busybox_base base:1 v1
SRC="$WORK/src"
mkdir -p "$SRC/app/src"
for i in $(seq 300); do echo "source $i" >"$SRC/app/src/f$i.txt"; done
echo app >"$SRC/app/app.txt"
# What services on one stack share (their dependencies) comes first and is
# the same for all; only the last steps differ per image.
cat >"$SRC/app/Dockerfile" <<EOF
FROM $REG/base:1
COPY src/ /app/src/
RUN for i in \$(seq 1 $SHARED_FILES); do echo "dependency \$i" > /app/dep-\$i; done
ARG N
RUN for i in \$(seq 1 50); do echo "\$N \$i" > /app/gen-\$i; done
COPY app.txt /app/
EOF
git -C "$SRC" init -q -b main
git -C "$SRC" -c user.email=b@example.com -c user.name=b add -A
git -C "$SRC" -c user.email=b@example.com -c user.name=b commit -qm app
mkdir -p "$WORK/git"
git clone -q --bare "$SRC" "$WORK/git/repo.git"
GPORT=$((20000 + RANDOM % 12000))
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GPORT" \
  "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do git ls-remote "git://127.0.0.1:$GPORT/repo.git" >/dev/null 2>&1 && break; sleep 0.05; done

log "$TASKS tasks, each run once (warm: every task has built once on v1)"
for i in $(seq "$TASKS"); do
  "$BIN" task create -n app$i -c "git://127.0.0.1:$GPORT/repo.git#main:app" -t bench/app$i:1 --arg N=$i \
    >/dev/null
  "$BIN" task run -n app$i --no-logs >/dev/null 2>&1
done

runs_json() { curl -s -u "admin:$PASS" "http://$REG/api/v1/runs?top=1000"; }
triggered() { runs_json | jq '[.runs[] | select(.trigger == "Image Update")] | length'; }
# "TRIGGERED UNFINISHED" in one request: polling must not steal much CPU.
progress() {
  runs_json | jq -r '[.runs[] | select(.trigger == "Image Update")] |
    "\(length) \([.[] | select(.status == "Queued" or .status == "Started" or .status == "Running")] | length)"'
}

log "pushing base v2"
mkdir -p "$WORK/base-v2"
cp /bin/busybox "$WORK/base-v2/busybox"
echo v2 >"$WORK/base-v2/extra"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCOPY extra /etc/extra\n' \
  >"$WORK/base-v2/Dockerfile"
# Built (and cached) first, so that the timed push is only the push.
"$BIN" build --local --state "$WORK/state" -t "$REG/base:v2" "$WORK/base-v2" >/dev/null 2>&1
t_push0=$(now)
"$BIN" build --local --state "$WORK/state" -t "$REG/base:1" --push "$WORK/base-v2" >/dev/null 2>&1
t_pushed=$(now)
while [[ $(triggered) -lt 1 ]]; do sleep 0.02; done
t_first=$(now)
while read -r n busy < <(progress); [[ $n -lt $TASKS || $busy -gt 0 ]]; do sleep 0.25; done
t_all=$(now)
FAILED=$(runs_json | jq '[.runs[] | select(.trigger == "Image Update" and .status != "Succeeded")] | length')
[[ $FAILED == 0 ]] || { echo "$FAILED triggered runs did not succeed" >&2; exit 1; }
FIRST=$(secs "$t_pushed" "$t_first")
ALL=$(secs "$t_pushed" "$t_all")

log "the same $TASKS images one after another, fresh cache each"
t0=$(now)
for i in $(seq "$TASKS"); do
  "$BIN" build --local --state "$WORK/seq-$i" --build-arg N=$i -t "$REG/bench/seq$i:1" --push "$SRC/app" >/dev/null 2>&1
done
SEQ_FRESH=$(secs "$t0" "$(now)")
log "the same $TASKS images one after another, one shared cache"
t0=$(now)
for i in $(seq "$TASKS"); do
  "$BIN" build --local --state "$WORK/seq-shared" --build-arg N=$i -t "$REG/bench/shared$i:1" --push "$SRC/app" >/dev/null 2>&1
done
SEQ_SHARED=$(secs "$t0" "$(now)")

cat <<EOF

Base-image trigger: $TASKS tasks FROM one base, new base digest pushed ($(nproc) CPUs, $CONCURRENCY concurrent runs, shared step writing $SHARED_FILES files)

| measure | seconds | ratio | target |
|---|---:|---:|---|
| push command (cached build + push) | $(secs "$t_push0" "$t_pushed") | | |
| push returned -> first dependent run queued | $FIRST | | < 1 |
| push -> all $TASKS rebuilt and pushed (triggered) | $ALL | | |
| $TASKS builds one after another, fresh cache each | $SEQ_FRESH | $(awk -v a="$ALL" -v b="$SEQ_FRESH" 'BEGIN { printf "%.2fx", a / b }') | <= 0.5x |
| $TASKS builds one after another, shared cache | $SEQ_SHARED | $(awk -v a="$ALL" -v b="$SEQ_SHARED" 'BEGIN { printf "%.2fx", a / b }') | (report) |
EOF
