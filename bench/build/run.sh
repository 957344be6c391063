#!/usr/bin/env bash
# Drydock's builder vs. buildah (Debian's, `bud --isolation chroot --layers`)
# on the same Dockerfiles in the same run:
#
#   bench/build/run.sh [--quick] [--keep]
#
#   cold        first build, empty caches (base image already pulled by neither)
#   nochange    rebuild with nothing changed
#   onefile     rebuild after changing one copied source file
#   multistage  cold build of two independent stages plus a final stage
#
# Prints a markdown table with both times, their ratio and the targets
# (cold <= 0.8x, no-change <= 0.1x, one-file <= 0.5x). Each scenario runs
# REPEAT times (default 3, --quick 1) and reports the median.
#
# A drydock registry on 127.0.0.1 serves the base image (busybox, itself
# built by drydock from Debian's busybox-static) to both builders; neither
# pushes. Needs root and what scripts/install-deps.sh installs. Everything it
# starts and its temporary directory (BENCH_TMPDIR, default /var/tmp) are
# removed on exit.
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/../flags.sh" "$@"
if [[ $MODE == full ]]; then : "${REPEAT:=3}" "${FILES:=3000}" "${RUN_FILES:=3000}"; else : "${REPEAT:=1}" "${FILES:=500}" "${RUN_FILES:=500}"; fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir build
bench_serve "$WORK/registry" 'auth: {anonymous_pull: ["*"]}'

log "base image: busybox built by drydock, pushed to $REG/base/busybox:1"
bench_busybox_base base/busybox:1

# The application: many small source files, one that changes, and a RUN that writes files.
make_app() {
  local dir=$1
  mkdir -p "$dir/src"
  for i in $(seq 1 "$FILES"); do echo "source file $i" >"$dir/src/f$i.txt"; done
  head -c $((8 << 20)) /dev/urandom >"$dir/src/blob.bin"
  echo "version 1" >"$dir/app.txt"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1
WORKDIR /app
COPY src/ ./src/
RUN for i in \$(seq 1 $RUN_FILES); do echo \$i > /app/gen-\$i; done
COPY app.txt ./
CMD ["cat", "/app/app.txt"]
DOCKERFILE
}
make_multi() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1 AS a
RUN for i in \$(seq 1 $RUN_FILES); do echo a\$i > /a-\$i; done
FROM $REG/base/busybox:1 AS b
RUN for i in \$(seq 1 $RUN_FILES); do echo b\$i > /b-\$i; done
FROM $REG/base/busybox:1
COPY --from=a /a-1 /a-1
COPY --from=b /b-1 /b-1
DOCKERFILE
}

drydock_build() { "$BIN" build --local --state "$STATE" "$1"; }
buildah_build() {
  buildah --root "$STATE/root" --runroot "$STATE/run" --storage-driver overlay bud --isolation chroot --layers \
    --tls-verify=false --format oci -t bench:latest "$1"
}

# scenario TOOL: prints "cold nochange onefile multistage" seconds for one repetition.
scenario() {
  local tool=$1 rep=$2
  STATE="$WORK/$tool-state-$rep"
  local app="$WORK/$tool-app-$rep" multi="$WORK/$tool-multi-$rep"
  make_app "$app"
  make_multi "$multi"
  local cold nochange onefile ms
  cold=$(seconds "${tool}_build" "$app")
  nochange=$(seconds "${tool}_build" "$app")
  echo "version 2" >"$app/app.txt"
  onefile=$(seconds "${tool}_build" "$app")
  STATE="$WORK/$tool-mstate-$rep"
  ms=$(seconds "${tool}_build" "$multi")
  echo "$cold $nochange $onefile $ms"
}

declare -A RESULTS
for rep in $(seq 1 "$REPEAT"); do
  for tool in drydock buildah; do
    log "repetition $rep: $tool"
    read -r c n o m < <(scenario "$tool" "$rep")
    RESULTS[$tool.cold]+="$c " RESULTS[$tool.nochange]+="$n " RESULTS[$tool.onefile]+="$o " RESULTS[$tool.multistage]+="$m "
  done
done

echo
echo "Builder benchmark ($MODE: $FILES source files + 8 MiB, RUN writes $RUN_FILES files; median of $REPEAT)"
echo
echo "| scenario | drydock (s) | buildah (s) | ratio | target |"
echo "|---|---:|---:|---:|---|"
for s in cold nochange onefile multistage; do
  d=$(median <<<"${RESULTS[drydock.$s]}")
  b=$(median <<<"${RESULTS[buildah.$s]}")
  case $s in cold) t="<= 0.8x" ;; nochange) t="<= 0.1x" ;; onefile) t="<= 0.5x" ;; *) t="(report)" ;; esac
  awk -v s="$s" -v d="$d" -v b="$b" -v t="$t" 'BEGIN { printf "| %s | %.2f | %.2f | %.2fx | %s |\n", s, d, b, d / b, t }'
done
