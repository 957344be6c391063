#!/usr/bin/env bash
# Crash safety: kill -9 drydock in the middle of concurrent skopeo pushes
# and half-finished uploads, restart it on the same data, and check that
# every acknowledged push pulls back intact, that upload staging is
# consistent with the session records, and that every stored blob hashes
# to its name.
. "$(dirname "$0")/lib.sh"

command -v skopeo >/dev/null || fail "skopeo is not installed"
N=6
start_server

log "building $N images of different sizes"
for i in $(seq 1 $N); do
  IMAGE_RANDOM_KB=$((1024 * i)) make_busybox_layout "$WORK/src$i" v1 "crash image $i" >"$WORK/src$i.digest"
done
ok "$N layouts with 1..$N MiB of random data each"

log "half-finished uploads before the crash"
head -c 5000 /dev/urandom >"$WORK/partial"
head -c 3000 "$WORK/partial" >"$WORK/partial.1"
tail -c 2000 "$WORK/partial" >"$WORK/partial.2"
req POST /v2/crash/partial/blobs/uploads/ "${ADMIN[@]}"
KEEP_LOC=$(header Location)
req PATCH "$KEEP_LOC" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-2999' \
  --data-binary "@$WORK/partial.1"
assert_status 202 "$STATUS" "PATCH 3000 bytes into a session that must survive the crash"
req POST /v2/crash/partial/blobs/uploads/ "${ADMIN[@]}"
LOST_LOC=$(header Location)
req PATCH "$LOST_LOC" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/partial.1"
assert_status 202 "$STATUS" "PATCH into a session whose staging file will vanish"

req POST /v2/crash/stream/blobs/uploads/ "${ADMIN[@]}"
STREAM_LOC=$(header Location)
# A PATCH still streaming when the server dies: 3 MiB (the server writes in
# 1 MiB pieces), then the body stays open.
(
  { head -c 3145728 /dev/urandom; while [ ! -e "$WORK/stop-stream" ]; do sleep 0.1; done; } |
    curl -sS -o /dev/null -X PATCH -T - -u "admin:$ADMIN_PASS" -H 'Content-Type: application/octet-stream' \
      "$URL$STREAM_LOC" 2>/dev/null || true
) &
BG_PIDS+=($!)

# push_and_kill ATTEMPT: N concurrent skopeo pushes (to crash/imgI, or
# crash/imgI-rA on a retry, so that no blob is there already), then kill -9;
# appends "I REPO" to COMPLETE or INCOMPLETE for each push.
push_and_kill() {
  local attempt=$1 i repo pids=()
  rm -f "$WORK"/push*.rc
  for i in $(seq 1 $N); do
    repo=crash/img$i
    [ "$attempt" -eq 1 ] || repo=crash/img$i-r$attempt
    echo "$repo" >"$WORK/push$i.repo"
    (
      if skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false "oci:$WORK/src$i:v1" \
        "docker://$REG/$repo:v1" >"$WORK/push$i.log" 2>&1; then
        echo 0 >"$WORK/push$i.rc.tmp"
      else
        echo 1 >"$WORK/push$i.rc.tmp"
      fi
      mv "$WORK/push$i.rc.tmp" "$WORK/push$i.rc"
    ) &
    pids+=($!)
  done
  # The first attempt kills when one push has finished; later ones as soon
  # as a blob upload of theirs is being staged.
  for _ in $(seq 1 600); do
    [ "$(find "$WORK" -maxdepth 1 -name 'push*.rc' | wc -l)" -ge 1 ] && break
    [ "$attempt" -gt 1 ] && [ -n "$(find "$DATA/uploads" -type f -newer "$WORK/push1.repo")" ] && break
    sleep 0.05
  done
  kill9_server
  log "attempt $attempt: killed drydock with SIGKILL after $(find "$WORK" -maxdepth 1 -name 'push*.rc' | wc -l) of $N pushes had finished"
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in $(seq 1 $N); do
    if [ "$(cat "$WORK/push$i.rc")" = 0 ]; then
      COMPLETE+=("$i $(cat "$WORK/push$i.repo")")
    else
      INCOMPLETE+=("$i $(cat "$WORK/push$i.repo")")
    fi
  done
}

log "concurrent pushes, then kill -9, until the kill lands in the middle of a push"
COMPLETE=()
INCOMPLETE=()
for attempt in 1 2 3 4 5; do
  push_and_kill "$attempt"
  [ "$attempt" -eq 1 ] && touch "$WORK/stop-stream"
  [ "${#INCOMPLETE[@]}" -ge 1 ] && break
  log "every push finished before the kill landed: again, on fresh repositories"
  start_server
done
for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
BG_PIDS=()
log "skopeo reported complete: ${COMPLETE[*]:-none}; failed: ${INCOMPLETE[*]:-none}"
[ "${#COMPLETE[@]}" -ge 1 ] || fail "no push completed before the kill"
[ "${#INCOMPLETE[@]}" -ge 1 ] || fail "in 5 attempts the kill never landed while a push was running"

STAGED=$(find "$DATA/uploads" -type f | wc -l)
log "$STAGED staging file(s) under uploads/ after the kill"
log "debris a crash can leave while the server is down"
ORPHAN="$DATA/uploads/0badf00d-0000-4000-8000-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
head -c 1234 /dev/urandom >"$ORPHAN"
# Untouched for a while: a young one could be another server's monolithic upload.
touch -d '2 hours ago' "$ORPHAN"
ok "staging file without a session, untouched for 2 hours: ${ORPHAN##*/}"
LOST_ID=${LOST_LOC##*/}
[ -f "$DATA/uploads/$LOST_ID" ] || fail "staging file of session $LOST_ID not found under $DATA/uploads"
rm -f "$DATA/uploads/$LOST_ID"
ok "removed the staging file of session $LOST_ID (its record stays)"

log "restart on the same data"
start_server
[ ! -e "$ORPHAN" ] || fail "orphan staging file ${ORPHAN##*/} survived the restart"
ok "orphan staging file removed at startup"
req GET "$LOST_LOC" "${ADMIN[@]}"
assert_status 404 "$STATUS" "session whose bytes vanished"
req GET "$KEEP_LOC" "${ADMIN[@]}"
assert_status 204 "$STATUS" "session interrupted by the crash"
assert_eq "0-2999" "$(header Range)" "its Range after the restart"
req PATCH "$KEEP_LOC" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 3000-4999' \
  --data-binary "@$WORK/partial.2"
assert_status 202 "$STATUS" "PATCH the rest after the restart"
req PUT "$KEEP_LOC?digest=sha256:$(sha256_of "$WORK/partial")" "${ADMIN[@]}"
assert_status 201 "$STATUS" "finish the interrupted upload"
req GET "/v2/crash/partial/blobs/sha256:$(sha256_of "$WORK/partial")" "${ADMIN[@]}"
save_body "$WORK/partial.back"
assert_same_bytes "$WORK/partial" "$WORK/partial.back" "blob uploaded across the crash"

# pull_and_compare I: copies crash/imgI:v1 out and compares every blob with the source.
pull_and_compare() { # pull_and_compare I REPO WHY
  local i=$1 repo=$2 src="$WORK/src$1" out="$WORK/out$1" d blob
  rm -rf "$out"
  skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$REG/$repo:v1" "oci:$out:v1" \
    >"$WORK/pull$i.log" 2>&1 || { cat "$WORK/pull$i.log" >&2; fail "pull of $repo:v1 (push $3)"; }
  d=$(cat "$src.digest")
  assert_eq "$d" "$(layout_digest "$out" v1)" "$repo:v1 digest ($3)"
  for blob in "$d" $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$src" "$d")"); do
    cmp -s "$(layout_blob "$src" "$blob")" "$(layout_blob "$out" "$blob")" || fail "$repo blob $blob differs"
  done
  ok "$repo: manifest, config and layers byte-identical"
}

log "every acknowledged push pulls back intact"
for entry in "${COMPLETE[@]}"; do pull_and_compare $entry "acknowledged before the crash"; done

log "interrupted pushes can be redone"
for entry in "${INCOMPLETE[@]}"; do
  read -r i repo <<<"$entry"
  skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false "oci:$WORK/src$i:v1" \
    "docker://$REG/$repo:v1" >"$WORK/repush$i.log" 2>&1 || { cat "$WORK/repush$i.log" >&2; fail "re-push $repo"; }
  pull_and_compare "$i" "$repo" "re-pushed after the crash"
done

log "staging area matches the session records"
STREAM_FILE="$DATA/uploads/${STREAM_LOC##*/}"
[ -f "$STREAM_FILE" ] || fail "staging file of the interrupted streaming PATCH is gone"
[ "$(stat -c %s "$STREAM_FILE")" -gt 0 ] || fail "the streaming PATCH wrote nothing before the kill"
req GET "$STREAM_LOC" "${ADMIN[@]}"
assert_status 204 "$STATUS" "session of the streaming PATCH cut by the crash"
# The PATCH was never acknowledged: the upload is where its last
# checkpoint was (empty), and what reached the staging file is cut off.
assert_eq "0-0" "$(header Range)" "its Range (nothing acknowledged)"
assert_eq 0 "$(stat -c %s "$STREAM_FILE")" "the unacknowledged bytes are gone from the staging file"
REPOS=(crash/partial crash/stream)
for entry in "${COMPLETE[@]}" "${INCOMPLETE[@]}"; do REPOS+=("${entry#* }"); done
for f in "$DATA"/uploads/*; do
  [ -e "$f" ] || continue
  id=${f##*/}
  found=""
  for repo in "${REPOS[@]}"; do
    req GET "/v2/$repo/blobs/uploads/$id" "${ADMIN[@]}"
    if [ "$STATUS" = 204 ]; then found=$repo; break; fi
  done
  [ -n "$found" ] || fail "staging file uploads/$id has no upload session"
  ok "staging file $id belongs to a live session in $found"
done
STAGED=$(find "$DATA/uploads" -type f | wc -l)
[ "$STAGED" -ge 1 ] || fail "expected at least the streaming session's staging file"
ok "$STAGED staging file(s) checked"

log "every stored blob hashes to its name"
stop_server
count=0
while IFS= read -r f; do
  alg=$(basename "$(dirname "$(dirname "$f")")")
  hex=${f##*/}
  prefix=$(basename "$(dirname "$f")")
  [ "$prefix" = "${hex:0:2}" ] || fail "blob $f is filed under the wrong prefix"
  case "$alg" in
    sha256) actual=$(sha256sum "$f" | cut -d' ' -f1) ;;
    sha512) actual=$(sha512sum "$f" | cut -d' ' -f1) ;;
    *) fail "unexpected file $f under blobs/" ;;
  esac
  [ "$actual" = "$hex" ] || fail "blob $f hashes to $alg:$actual"
  count=$((count + 1))
done < <(find "$DATA/blobs" -type f)
[ "$count" -ge $((N * 2 + 2)) ] || fail "only $count blob files found"
ok "all $count blob files hash to their names"
