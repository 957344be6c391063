#!/usr/bin/env bash
# Garbage collection: offline `drydock gc` (dry run, then untagged-manifest
# collection) on a stopped server, then online GC from the config file,
# including abandoned-upload expiry.
. "$(dirname "$0")/lib.sh"

command -v skopeo >/dev/null || fail "skopeo is not installed"

blob_file() { echo "$DATA/blobs/sha256/${1:7:2}/${1#sha256:}"; }
blob_files() { find "$DATA/blobs" -type f | sort; }
# image_blobs LAYOUT DIGEST: config and layer digests of an image.
image_blobs() { jq -r '.config.digest, .layers[].digest' "$(layout_blob "$1" "$2")"; }
assert_blob_present() { [ -f "$(blob_file "$1")" ] || fail "blob $1 ($2) is gone"; ok "blob present: $2"; }
assert_blob_absent() { [ ! -e "$(blob_file "$1")" ] || fail "blob $1 ($2) is still stored"; ok "blob removed: $2"; }
pull_check() { # pull_check REPO:TAG LAYOUT DIGEST
  rm -rf "$WORK/pull"
  skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$REG/$1" "oci:$WORK/pull:x" \
    >"$WORK/pull.log" 2>&1 || { cat "$WORK/pull.log" >&2; fail "pull $1"; }
  assert_eq "$3" "$(layout_digest "$WORK/pull" x)" "digest of $1 pulled after GC"
  for b in $(image_blobs "$2" "$3"); do
    cmp -s "$(layout_blob "$2" "$b")" "$(layout_blob "$WORK/pull" "$b")" || fail "$1: blob $b differs"
  done
  ok "$1: config and layers byte-identical"
}
run_gc() { # run_gc ARGS...: drydock gc on $DATA; output in $GC_OUT
  "$DRYDOCK_BIN" gc --data "$DATA" "$@" >"$WORK/gc.out" 2>&1 || { cat "$WORK/gc.out" >&2; fail "drydock gc $*"; }
  GC_OUT=$(cat "$WORK/gc.out")
  log "drydock gc $*: $(tail -n 1 <<<"$GC_OUT")"
}

log "offline GC: set up"
start_server
A=$(make_busybox_layout "$WORK/a" v1 "gc image a")
B=$(make_busybox_layout "$WORK/b" v1 "gc image b")
C=$(make_busybox_layout "$WORK/c" v1 "gc image c")
push_layout "$WORK/a" v1 gc/app:v1
push_layout "$WORK/b" v1 gc/app:v2
push_layout "$WORK/c" v1 gc/app:v3
push_layout "$WORK/c" v1 gc/other:keep  # the same image in a second repository
head -c 4096 /dev/urandom >"$WORK/stray"
STRAY=$(upload_blob gc/app "$WORK/stray")
ok "pushed gc/app:v1 (A), :v2 (B), :v3 (C), gc/other:keep (C again) and a stray blob"
mapfile -t A_BLOBS < <(image_blobs "$WORK/a" "$A")
mapfile -t B_BLOBS < <(image_blobs "$WORK/b" "$B")
mapfile -t C_BLOBS < <(image_blobs "$WORK/c" "$C")
BASE=${A_BLOBS[1]}  # the busybox layer all three share
assert_eq "$BASE" "${B_BLOBS[1]}" "A and B share the busybox layer"
req DELETE /v2/gc/app/manifests/v2 "${ADMIN[@]}"
assert_status 202 "$STATUS" "untag gc/app:v2 (B stays as an untagged manifest)"
req DELETE "/v2/gc/app/manifests/$C" "${ADMIN[@]}"
assert_status 202 "$STATUS" "delete C from gc/app by digest"
stop_server
sleep 1.2  # GC's clock has whole seconds: with --grace 0 only older links and files go
blob_files >"$WORK/files.before"
assert_eq 8 "$(wc -l <"$WORK/files.before")" "blob files before GC (busybox, 3 configs, 3 layers, stray)"

log "offline GC: dry run"
run_gc --dry-run --delete-untagged --grace 0
assert_contains "$GC_OUT" "dry run: would remove 1 manifests, 5 blob links, 3 blobs" "dry-run summary"
assert_contains "$GC_OUT" "would delete manifest gc/app@$B" "dry run names B"
assert_contains "$GC_OUT" "would delete blob $STRAY" "dry run names the stray blob"
assert_not_contains "$GC_OUT" "delete blob ${C_BLOBS[0]}" "dry run (C's config is still linked from gc/other)"
blob_files >"$WORK/files.dry"
assert_eq "" "$(diff "$WORK/files.before" "$WORK/files.dry")" "blob files changed by the dry run"
run_gc --grace 3600 --delete-untagged
assert_contains "$GC_OUT" "removed 0 manifests, 0 blob links, 0 blobs" "GC within the default grace period"

log "offline GC: unreferenced blobs only"
run_gc --grace 0
assert_contains "$GC_OUT" "removed 0 manifests, 3 blob links, 1 blobs" "summary without --delete-untagged"
assert_blob_absent "$STRAY" "stray blob"
for b in "${B_BLOBS[@]}" "${C_BLOBS[@]}"; do assert_blob_present "$b" "$b of B or C"; done

log "offline GC: untagged manifests"
run_gc --grace 0 --delete-untagged
assert_contains "$GC_OUT" "removed 1 manifests, 2 blob links, 2 blobs" "summary with --delete-untagged"
assert_blob_absent "${B_BLOBS[0]}" "B's config"
assert_blob_absent "${B_BLOBS[2]}" "B's own layer"
for b in "${A_BLOBS[@]}"; do assert_blob_present "$b" "A's $b"; done
for b in "${C_BLOBS[@]}"; do assert_blob_present "$b" "C's $b (tagged in gc/other)"; done
assert_eq 5 "$(blob_files | wc -l)" "blob files left (busybox, A's two, C's two)"
run_gc --grace 0 --delete-untagged
assert_contains "$GC_OUT" "removed 0 manifests, 0 blob links, 0 blobs" "a second pass finds nothing"

start_server
pull_check gc/app:v1 "$WORK/a" "$A"
pull_check gc/other:keep "$WORK/c" "$C"
req GET "/v2/gc/app/manifests/$B" "${ADMIN[@]}"
assert_status 404 "$STATUS" "untagged manifest B after GC"
req GET "/v2/gc/app/blobs/$STRAY" "${ADMIN[@]}"
assert_status 404 "$STATUS" "stray blob after GC"
req GET "/v2/gc/app/blobs/${C_BLOBS[0]}" "${ADMIN[@]}"
assert_status 404 "$STATUS" "C's config is no longer linked to gc/app"
stop_server

log "online GC"
D=$(make_busybox_layout "$WORK/d" v1 "gc image d")
E=$(make_busybox_layout "$WORK/e" v1 "gc image e")
# Push with GC off: with grace 0 a pass could otherwise unlink a blob between
# its upload and the manifest that needs it.
start_server
push_layout "$WORK/d" v1 gc/online:v1
push_layout "$WORK/e" v1 gc/online:v2
stop_server
cat >"$WORK/config.yaml" <<EOF
gc:
  interval_seconds: 1
  grace_seconds: 0
  delete_untagged: true
  upload_ttl_seconds: 2
EOF
start_server --config "$WORK/config.yaml"
req POST /v2/gc/online/blobs/uploads/ "${ADMIN[@]}"
IDLE=$(header Location)
req PATCH "$IDLE" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' --data-binary 'abandoned bytes'
assert_status 202 "$STATUS" "an upload left idle"
req DELETE /v2/gc/online/manifests/v2 "${ADMIN[@]}"
assert_status 202 "$STATUS" "untag gc/online:v2"
mapfile -t E_BLOBS < <(image_blobs "$WORK/e" "$E")
for _ in $(seq 1 100); do
  [ ! -e "$(blob_file "${E_BLOBS[2]}")" ] && [ ! -e "$DATA/uploads/${IDLE##*/}" ] && break
  sleep 0.1
done
assert_blob_absent "${E_BLOBS[0]}" "E's config, collected online"
assert_blob_absent "${E_BLOBS[2]}" "E's own layer, collected online"
req GET "/v2/gc/online/manifests/$E" "${ADMIN[@]}"
assert_status 404 "$STATUS" "untagged manifest E after online GC"
req GET "$IDLE" "${ADMIN[@]}"
assert_status 404 "$STATUS" "idle upload after its TTL"
[ ! -e "$DATA/uploads/${IDLE##*/}" ] || fail "staging file of the idle upload is still there"
ok "staging file of the idle upload removed"
assert_contains "$(cat "$SERVER_LOG")" "gc: 1 manifests" "server log reports the online pass"
pull_check gc/online:v1 "$WORK/d" "$D"
pull_check gc/app:v1 "$WORK/a" "$A"
