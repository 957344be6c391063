#!/usr/bin/env bash
# Multi-platform builds: Drydock vs buildah (Debian's, `build --platform
# linux/amd64,linux/arm64 --manifest`, chroot isolation) on the same
# Dockerfiles in the same run:
#
#   bench/platforms/run.sh [--quick] [--keep]
#
#   amd64        one platform, native
#   arm64        one platform, RUN under QEMU user-mode emulation
#   both         --platform linux/amd64,linux/arm64 in one build, against
#                the two single-platform builds one after the other
#   cpu-native   a CPU-bound RUN (a shell loop) for amd64
#   cpu-emulated the same RUN for arm64: the emulation's cost on one step
#
# Every build is cold (fresh state; the base index is in a drydock registry
# on 127.0.0.1). Prints a markdown table with both tools' medians over
# REPEAT runs (default 3, --quick 1) and their ratio. Needs root,
# scripts/install-deps.sh (qemu-user-static, busybox-static:arm64 in
# /var/cache/drydock-tests) and binfmt_misc, which it mounts and where it
# registers qemu-aarch64 (F flag) when missing.
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/../flags.sh" "$@"
if [[ $MODE == full ]]; then : "${REPEAT:=3}" "${FILES:=2000}" "${LOOP:=100000}"; else : "${REPEAT:=1}" "${FILES:=300}" "${LOOP:=20000}"; fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BINFMT=/proc/sys/fs/binfmt_misc
[[ -e $BINFMT/status ]] || mount -t binfmt_misc binfmt_misc "$BINFMT"
[[ -e $BINFMT/qemu-aarch64 ]] || grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register"
grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" || { echo "qemu-aarch64 lacks the F flag" >&2; exit 1; }
DEB=$(ls /var/cache/drydock-tests/busybox-static_*_arm64.deb 2>/dev/null | head -n1)
[[ -n $DEB ]] || { echo "no busybox-static arm64 package: run scripts/install-deps.sh" >&2; exit 1; }

bench_workdir platforms
bench_serve "$WORK/registry" 'auth: {anonymous_pull: ["*"]}'

log "base index: busybox for amd64 and arm64, built by drydock, at $REG/base/busybox:multi"
base="$WORK/base"
mkdir -p "$base/links/bin"
cp /bin/busybox "$base/busybox-amd64"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./bin/busybox >"$base/busybox-arm64"
chmod 755 "$base/busybox-arm64"
for tool in sh echo cat seq ls mkdir uname; do ln -s busybox "$base/links/bin/$tool"; done
printf 'FROM scratch\nARG TARGETARCH\nCOPY busybox-$TARGETARCH /bin/busybox\nCOPY links/ /\n' >"$base/Dockerfile"
"$BIN" build --local --state "$WORK/base-state" --platform linux/amd64,linux/arm64 \
  -t "$REG/base/busybox:multi" --push "$base" >/dev/null 2>"$WORK/base.log" || { cat "$WORK/base.log" >&2; exit 1; }

# The application: small source files, a RUN writing files; and a CPU-bound RUN.
app="$WORK/app"
mkdir -p "$app/src"
for i in $(seq 1 "$FILES"); do echo "source file $i" >"$app/src/f$i.txt"; done
cat >"$app/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:multi
COPY src/ /app/src/
RUN for i in \$(seq 1 $FILES); do echo \$i > /app/gen-\$i; done && uname -m > /app/arch
DOCKERFILE
cpu="$WORK/cpu"
mkdir -p "$cpu"
cat >"$cpu/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:multi
RUN i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done; echo \$i > /count
DOCKERFILE

# Each build its own fresh state (NAME): cold, no cache shared between them.
drydock_build() {  # DIR PLATFORMS NAME
  "$BIN" build --local --state "$WORK/dd-state-$3" --platform "$2" "$1"
}
buildah_build() {  # DIR PLATFORMS NAME
  local s="$WORK/bh-state-$3"
  buildah --root "$s/root" --runroot "$s/run" --storage-driver overlay build --isolation chroot \
    --tls-verify=false --platform "$2" --manifest "bench-$3" "$1"
}

# Written-back dirty pages of the previous build are not the next one's cost.
timed() { sync; seconds "$@"; }
declare -A R
for rep in $(seq 1 "$REPEAT"); do
  for tool in drydock buildah; do
    log "repetition $rep: $tool"
    R[$tool.amd64]+="$(timed "${tool}_build" "$app" linux/amd64 "amd64-$rep") "
    R[$tool.arm64]+="$(timed "${tool}_build" "$app" linux/arm64 "arm64-$rep") "
    R[$tool.both]+="$(timed "${tool}_build" "$app" linux/amd64,linux/arm64 "both-$rep") "
    R[$tool.cpu-native]+="$(timed "${tool}_build" "$cpu" linux/amd64 "cpu-amd64-$rep") "
    R[$tool.cpu-emulated]+="$(timed "${tool}_build" "$cpu" linux/arm64 "cpu-arm64-$rep") "
  done
  rm -rf "$WORK"/dd-state-* "$WORK"/bh-state-* 2>/dev/null || true
done

med() { median <<<"${R[$1]}"; }
echo
echo "Multi-platform build benchmark ($MODE: $FILES source files, RUN writes $FILES files; CPU loop of $LOOP; median of $REPEAT; cold builds)"
echo
echo "| scenario | drydock (s) | buildah (s) | drydock / buildah |"
echo "|---|---:|---:|---:|"
for s in amd64 arm64 both cpu-native cpu-emulated; do
  awk -v s="$s" -v d="$(med drydock.$s)" -v b="$(med buildah.$s)" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2fx |\n", s, d, b, d / b }'
done
echo
for tool in drydock buildah; do
  awk -v t="$tool" -v a="$(med $tool.amd64)" -v r="$(med $tool.arm64)" -v b="$(med $tool.both)" \
    -v n="$(med $tool.cpu-native)" -v e="$(med $tool.cpu-emulated)" \
    'BEGIN { printf "%s: both platforms in one build %.2f s vs %.2f s one after the other (%.2fx); emulated CPU-bound RUN %.1fx native\n", t, b, a + r, b / (a + r), e / n }'
done
