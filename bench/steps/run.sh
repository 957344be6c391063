#!/usr/bin/env bash
# Multi-step task runs: what a step costs over starting the same container
# with runc directly, and what parallel steps buy. Reports
#   - per-step overhead: a task file of STEPS (default 10) sequential
#     `cmd: base true` steps, run with `drydock run -f - /dev/null`: the
#     median of the steps' own elapsed times, and the run's wall time per
#     step (queue, source, namespace, pulls, log included), against
#     `runc run` of a bundle with the same busybox root filesystem;
#   - N parallel vs sequential: PAR (default 4) steps that each sleep 2 s,
#     and PAR steps that each burn CPU for about a second, with `when: ["-"]`
#     against the same steps one after another.
#
#   bench/steps/run.sh [--steps N] [--par N] [--keep]
#
# Needs root (runc).
set -euo pipefail
shopt -s inherit_errexit
STEPS=10 PAR=4 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --steps) STEPS=$2; shift ;;
    --par) PAR=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/steps/run.sh [--steps N] [--par N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir steps
bench_serve "$WORK/data"
"$BIN" login "$REG" -u admin -p "$PASS" >/dev/null 2>&1
bench_busybox_base base:1 v1

# run_task FILE: runs it, prints the wall seconds; the log in FILE.log.
run_task() {
  local start
  start=$(now)
  "$BIN" run -f "$1" /dev/null >"$1.log" 2>&1 || { tail -n 20 "$1.log" >&2; exit 1; }
  secs "$start" "$(now)"
}
step_times() { sed -n 's/.*marked as successful (elapsed time in seconds: \([0-9.]*\)).*/\1/p' "$1"; }

log "warm-up: the base image pulled into the server's store"
printf 'steps:\n  - cmd: %s/base:1 true\n' "$REG" >"$WORK/warm.yaml"
run_task "$WORK/warm.yaml" >/dev/null

log "$STEPS sequential steps running true"
{
  echo "steps:"
  for i in $(seq "$STEPS"); do echo "  - cmd: $REG/base:1 true"; done
} >"$WORK/seq.yaml"
wall=$(run_task "$WORK/seq.yaml")
step_median=$(step_times "$WORK/seq.yaml.log" | median)
per_step_wall=$(awk -v w="$wall" -v n="$STEPS" 'BEGIN { printf "%.3f", w / n }')

log "the same container with runc directly, $STEPS times"
BUNDLE="$WORK/bundle"
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/etc" "$BUNDLE/rootfs/proc" "$BUNDLE/rootfs/sys" "$BUNDLE/rootfs/dev"
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
chroot "$BUNDLE/rootfs" /bin/busybox --install -s /bin
(cd "$BUNDLE" && runc spec)
jq '.process.terminal = false | .process.args = ["true"]' "$BUNDLE/config.json" >"$BUNDLE/c.json"
mv "$BUNDLE/c.json" "$BUNDLE/config.json"
runc_times=()
for i in $(seq "$STEPS"); do
  start=$(now)
  runc --root "$WORK/runc" run --bundle "$BUNDLE" "bench-$i" >/dev/null 2>&1
  runc_times+=("$(secs "$start" "$(now)")")
done
runc_median=$(printf '%s\n' "${runc_times[@]}" | median)

# par_pair NAME CMD: PAR steps running CMD in parallel, then in sequence.
par_pair() {
  {
    echo "steps:"
    for i in $(seq "$PAR"); do printf '  - cmd: %s/base:1 %s\n    when: ["-"]\n' "$REG" "$2"; done
  } >"$WORK/$1-par.yaml"
  {
    echo "steps:"
    for i in $(seq "$PAR"); do printf '  - cmd: %s/base:1 %s\n' "$REG" "$2"; done
  } >"$WORK/$1-seq.yaml"
  local p s
  p=$(run_task "$WORK/$1-par.yaml")
  s=$(run_task "$WORK/$1-seq.yaml")
  printf '%-28s parallel %6.2f s  sequential %6.2f s  ratio %.2fx\n' "$1 ($PAR steps)" "$p" "$s" \
    "$(awk -v a="$p" -v b="$s" 'BEGIN { print a / b }')"
}

log "$PAR parallel vs sequential steps"
sleep_line=$(par_pair sleep "sleep 2")
cpu_line=$(par_pair cpu "sh -c 'i=0; while [ \$i -lt 300000 ]; do i=\$((i+1)); done'")

echo
echo "== multi-step runs ($(nproc) cores) =="
printf 'per-step overhead (%s steps running true):\n' "$STEPS"
printf '  drydock step (median elapsed)   %6.3f s\n' "$step_median"
printf '  drydock run wall / steps        %6.3f s\n' "$per_step_wall"
printf '  runc run (median)               %6.3f s\n' "$runc_median"
printf '  step / runc                     %6.2fx   (overhead %+.3f s per step)\n' \
  "$(awk -v a="$step_median" -v b="$runc_median" 'BEGIN { print a / b }')" \
  "$(awk -v a="$step_median" -v b="$runc_median" 'BEGIN { print a - b }')"
echo "$sleep_line"
echo "$cpu_line"
