#!/usr/bin/env bash
# Context upload of a quick build: `drydock build SOURCE_DIR` packing and
# uploading 10 000 small files, against `tar czf` of the same folder.
#
#   bench/quickbuild/context_upload.sh [--files N] [--repeat R] [--keep]
#
# Prints a markdown table, median of R runs (default 3), page cache warm:
#   drydock pack            the client's own packing time (it prints it)
#   drydock build --no-wait the whole client: pack, upload, queue a run
#   tar czf                 GNU tar + gzip -6 of the same folder to a file
#   tar czf + curl upload   the same archive POSTed to /api/v1/contexts
# The runs drydock queues are canceled at once so no build competes with the
# measurement. A drydock server on 127.0.0.1 receives the uploads; its data
# and the generated files live in BENCH_TMPDIR (default /var/tmp), removed on
# exit unless --keep.
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FILES=10000 REPEAT=3 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --files) FILES=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/quickbuild/context_upload.sh [--files N] [--repeat R] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$HERE/../lib.sh"
bench_workdir upload
bench_serve "$WORK/data"
SERVER=$REG

# FILES files of 200 B - 4 KiB of source-like text (compresses like code,
# ~3-4x) in directories of 100, plus a Dockerfile.
log "generating $FILES files"
CTX="$WORK/ctx"
mkdir -p "$CTX"
awk -v n="$FILES" -v dir="$CTX" 'BEGIN {
  srand(42)
  split("int return const static struct void if else for while auto std string vector include namespace", w, " ")
  for (i = 0; i < n; i++) {
    d = sprintf("%s/pkg%03d", dir, int(i / 100))
    if (i % 100 == 0) system("mkdir -p " d)
    f = sprintf("%s/file%05d.cc", d, i)
    size = 200 + int(rand() * 3900)
    s = ""
    while (length(s) < size) s = s w[1 + int(rand() * 16)] (rand() < 0.1 ? "\n" : " ") int(rand() * 1000) " "
    printf "%s\n", s > f
    close(f)
  }
}'
printf 'FROM scratch\nCOPY . /ctx/\n' >"$CTX/Dockerfile"
BYTES=$(du -sb "$CTX" | cut -f1)


PACK=() CLIENT=() TAR=() TARUP=()
for r in $(seq "$REPEAT"); do
  log "round $r/$REPEAT"
  t0=$(now)
  id=$("$BIN" build --no-wait "$CTX" 2>"$WORK/client.err")
  t1=$(now)
  "$BIN" run cancel "$id" >/dev/null 2>&1 || true
  CLIENT+=("$(secs "$t0" "$t1")")
  PACK+=("$(sed -n 's/.*packed in \([0-9.]*\)s.*/\1/p' "$WORK/client.err")")
  DD_KIB=$(sed -n 's/^Uploading archive (\([0-9.]*\) KiB.*/\1/p' "$WORK/client.err")

  t0=$(now)
  tar czf "$WORK/ctx.tar.gz" -C "$CTX" .
  t1=$(now)
  curl -sf -u "admin:$PASS" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/ctx.tar.gz" \
    "http://$SERVER/api/v1/contexts" >/dev/null
  t2=$(now)
  TAR+=("$(secs "$t0" "$t1")")
  TARUP+=("$(secs "$t0" "$t2")")
  TAR_KIB=$(awk -v b="$(stat -c %s "$WORK/ctx.tar.gz")" 'BEGIN { printf "%.3f", b / 1024 }')
done

m() { printf '%s\n' "$@" | median; }
cat <<EOF

Context upload, $FILES files, $((BYTES / 1024)) KiB on disk ($(nproc) CPUs, median of $REPEAT, warm page cache)

| step | seconds | archive KiB |
|---|---|---|
| drydock pack (libarchive + igzip) | $(m "${PACK[@]}") | $DD_KIB |
| drydock build --no-wait (pack + upload + queue) | $(m "${CLIENT[@]}") | |
| tar czf | $(m "${TAR[@]}") | $TAR_KIB |
| tar czf + curl upload | $(m "${TARUP[@]}") | |
EOF
