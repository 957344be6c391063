#!/usr/bin/env bash
# The registry's blobs in S3 (issue 14): `drydock serve` with
# storage.blobs.s3 on a real radosgw (scripts/s3/start-s3.sh). skopeo pushes
# and pulls an image byte for byte and nothing lands in the data directory;
# a chunked upload continues after a server restart from what S3 holds;
# two servers sharing the stores take turns on one chunked upload; Range
# reads; redirect: true answers blob GETs with presigned URLs; `drydock gc`
# deletes from S3 and aborts an abandoned multipart upload; a secret written in the YAML,
# a wrong key and a missing bucket are refused at startup, by name.
. "$(dirname "$0")/lib.sh"

command -v radosgw >/dev/null || { skip "radosgw is not installed (scripts/install-deps.sh)"; exit 0; }
command -v skopeo >/dev/null || fail "skopeo is not installed (scripts/install-deps.sh)"
S3_SCRIPTS="$(cd "$(dirname "$0")/../../scripts/s3" && pwd)"
# A second try: the script picks free ports, which a parallel test may take
# before the daemons bind them.
S3_ENV=$("$S3_SCRIPTS/start-s3.sh" 2>"$WORK/start-s3.log") ||
  { cat "$WORK/start-s3.log" >&2; S3_ENV=$("$S3_SCRIPTS/start-s3.sh" 2>"$WORK/start-s3.log"); } ||
  { cat "$WORK/start-s3.log" >&2; fail "start-s3.sh failed twice"; }
eval "$S3_ENV"
trap 'rc=$?; set +e; "$S3_SCRIPTS/stop-s3.sh" "$S3_DIR" 2>/dev/null; (exit $rc); cleanup' EXIT
log "radosgw at $S3_ENDPOINT"
s3() { # s3 METHOD PATH [curl args...]: a signed request; prints the HTTP status
  local method=$1 path=$2
  shift 2
  curl -s -o "$WORK/s3.body" -w '%{http_code}' -X "$method" --aws-sigv4 aws:amz:us-east-1:s3 \
    --user "$TEST_S3_KEY:$TEST_S3_SECRET" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$@" "$S3_ENDPOINT/$path"
}
export TEST_S3_KEY=$AWS_ACCESS_KEY_ID TEST_S3_SECRET=$AWS_SECRET_ACCESS_KEY
assert_eq 200 "$(s3 PUT drydock)" "bucket created"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY # the server reads the names the config gives
s3_config() { # s3_config FILE [extra s3 lines...]
  local file=$1
  shift
  {
    printf 'builds:\n  allow_private_fetches: true\nstorage:\n  blobs:\n    s3:\n'
    printf '      endpoint: %s\n      bucket: %s\n      prefix: registry/\n' "$S3_ENDPOINT" "${BUCKET:-drydock}"
    printf '      access_key_env: TEST_S3_KEY\n      secret_key_env: %s\n' "${SECRET_ENV:-TEST_S3_SECRET}"
    for line in "$@"; do printf '      %s\n' "$line"; done
  } >"$file"
}
# refused CONFIG TEXT: drydock serve exits at startup, saying TEXT.
refused() {
  local out rc=0
  out=$(DRYDOCK_ADMIN_PASSWORD=x timeout 20 "$DRYDOCK_BIN" serve --data "$WORK/refused" \
    --listen 127.0.0.1:0 --config "$1" 2>&1) || rc=$?
  assert_ne 0 "$rc" "drydock serve with $(basename "$1") exits with an error"
  assert_contains "$out" "$2" "its message"
  assert_not_contains "$out" "$TEST_S3_SECRET" "its message"
}

log "configuration mistakes are refused at startup, by name"
s3_config "$WORK/plain.yaml" "secret_key: hunter2"
refused "$WORK/plain.yaml" "secrets are not read from the configuration file"
SECRET_ENV=NO_SUCH_VARIABLE s3_config "$WORK/unset.yaml"
refused "$WORK/unset.yaml" "the environment variable NO_SUCH_VARIABLE is not set"
WRONG_SECRET=0000000000000000000000000000000000000000 SECRET_ENV=WRONG_SECRET s3_config "$WORK/wrong.yaml"
WRONG_SECRET=0000000000000000000000000000000000000000 refused "$WORK/wrong.yaml" "check the S3 credentials"
BUCKET=nosuchbucket s3_config "$WORK/nobucket.yaml"
refused "$WORK/nobucket.yaml" "S3 bucket 'nosuchbucket' does not exist at $S3_ENDPOINT"

log "skopeo pushes and pulls through S3"
s3_config "$WORK/config.yaml"
start_server --config "$WORK/config.yaml"
SRC="$WORK/src"
D=$(make_busybox_layout "$SRC" v1 "s3 image")
push_layout "$SRC" v1 s3/busybox:v1
skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$REG/s3/busybox:v1" \
  "oci:$WORK/out:v1" >"$WORK/pull.out" 2>&1 || { cat "$WORK/pull.out" >&2; fail "skopeo pull"; }
assert_eq "$D" "$(layout_digest "$WORK/out" v1)" "pulled manifest digest"
for blob in $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$SRC" "$D")"); do
  assert_same_bytes "$(layout_blob "$SRC" "$blob")" "$(layout_blob "$WORK/out" "$blob")" "blob $blob"
  hex=${blob#sha256:}
  assert_eq 200 "$(s3 HEAD "drydock/registry/blobs/sha256/${hex:0:2}/$hex" -I)" "$blob is an S3 object"
done
assert_eq 0 "$(find "$DATA/blobs" "$DATA/uploads" -type f 2>/dev/null | wc -l)" "no blob or upload file on local disk"

log "a chunked upload continues after a restart from what S3 holds"
head -c $((6 << 20)) /dev/urandom >"$WORK/part1"
head -c $((3 << 20 | 77)) /dev/urandom >"$WORK/part2"
cat "$WORK/part1" "$WORK/part2" >"$WORK/whole"
DIG="sha256:$(sha256_of "$WORK/whole")"
req POST "/v2/s3/chunked/blobs/uploads/" "${ADMIN[@]}"
assert_eq 202 "$STATUS" "upload started"
LOC=$(header Location)
req PATCH "$LOC" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' \
  -H "Content-Range: 0-$(((6 << 20) - 1))" --data-binary "@$WORK/part1"
assert_eq 202 "$STATUS" "first chunk"
assert_eq "0-$(((6 << 20) - 1))" "$(header Range)" "the server has the first chunk"
stop_server
start_server --config "$WORK/config.yaml"
req GET "$LOC" "${ADMIN[@]}"
assert_eq 204 "$STATUS" "the restarted server knows the upload"
assert_eq "0-$(((6 << 20) - 1))" "$(header Range)" "and how far it got"
P2=$(stat -c %s "$WORK/part2")
req PATCH "$LOC" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' \
  -H "Content-Range: $((6 << 20))-$(((6 << 20) + P2 - 1))" --data-binary "@$WORK/part2"
assert_eq 202 "$STATUS" "second chunk, on the restarted server"
req PUT "$LOC?digest=$DIG" "${ADMIN[@]}"
assert_eq 201 "$STATUS" "upload committed: $LAST_BODY"
curl -sS "${ADMIN[@]}" -o "$WORK/got" "$URL/v2/s3/chunked/blobs/$DIG"
assert_same_bytes "$WORK/whole" "$WORK/got" "the blob reads back whole"
curl -sS "${ADMIN[@]}" -r 7000000-7000099 -o "$WORK/range" "$URL/v2/s3/chunked/blobs/$DIG"
assert_eq "$(tail -c +7000001 "$WORK/whole" | head -c 100 | sha256sum | cut -d' ' -f1)" \
  "$(sha256_of "$WORK/range")" "a Range read across the two chunks"
assert_eq 200 "$(s3 GET "drydock?list-type=2&prefix=registry%2Fuploads%2F")" "list uploads"
assert_not_contains "$(cat "$WORK/s3.body")" "<Key>" "no upload object is left in S3"

log "two servers sharing the stores take turns on one chunked upload"
"$DRYDOCK_BIN" serve --data "$DATA" --listen 127.0.0.1:0 --config "$WORK/config.yaml" \
  >"$WORK/server.b.log" 2>&1 &
B_PID=$!
BG_PIDS+=("$B_PID")
for _ in $(seq 1 200); do
  B_PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.b.log" | head -n1)
  [ -n "$B_PORT" ] && curl -s -o /dev/null "http://127.0.0.1:$B_PORT/healthz" && break
  sleep 0.05
done
[ -n "$B_PORT" ] || fail "the second server did not start: $(tail -n 5 "$WORK/server.b.log")"
A_URL=$URL
B_URL="http://127.0.0.1:$B_PORT"
CHUNKS=()
for n in 1 2 3; do
  head -c $((n * (2 << 20) + 333)) /dev/urandom >"$WORK/turn$n"
  CHUNKS+=("$WORK/turn$n")
done
cat "${CHUNKS[@]}" >"$WORK/turns"
TURNS_DIG="sha256:$(sha256_of "$WORK/turns")"
req POST "/v2/s3/turns/blobs/uploads/" "${ADMIN[@]}"
assert_eq 202 "$STATUS" "upload started on A"
LOC=$(header Location)
patch_chunks "$LOC" "${CHUNKS[0]}@$B_URL" "${CHUNKS[1]}@$A_URL" "${CHUNKS[2]}@$B_URL"
code=$(curl -sS -o "$WORK/turn.body" -w '%{http_code}' -X PUT "${ADMIN[@]}" "$A_URL$LOC?digest=$TURNS_DIG")
assert_eq 201 "$code" "committed on A, which last held the upload two chunks ago ($(cat "$WORK/turn.body"))"
curl -sS "${ADMIN[@]}" -o "$WORK/turns.got" "$B_URL/v2/s3/turns/blobs/$TURNS_DIG"
assert_same_bytes "$WORK/turns" "$WORK/turns.got" "B serves the blob whole"
kill -TERM "$B_PID"
wait "$B_PID" || fail "the second server exited with an error: $(tail -n 5 "$WORK/server.b.log")"

log "redirect: true sends blob GETs to a presigned S3 URL"
stop_server
s3_config "$WORK/redirect.yaml" "redirect: true" "part_size: 5M"
start_server --config "$WORK/redirect.yaml"
LAYER=$(jq -r '.layers[0].digest' "$(layout_blob "$SRC" "$D")")
req GET "/v2/s3/busybox/blobs/$LAYER" "${ADMIN[@]}"
assert_eq 307 "$STATUS" "a blob GET is redirected"
assert_contains "$(header Location)" "$S3_ENDPOINT/drydock/registry/blobs/sha256/" "to the blob's object"
assert_contains "$(header Location)" "X-Amz-Signature=" "presigned"
curl -sS -o "$WORK/via-redirect" -L "${ADMIN[@]}" "$URL/v2/s3/busybox/blobs/$LAYER"
assert_same_bytes "$(layout_blob "$SRC" "$LAYER")" "$WORK/via-redirect" "the presigned URL serves the layer"
curl -sS -o "$WORK/range-redirect" -L -r 10-29 "${ADMIN[@]}" "$URL/v2/s3/busybox/blobs/$LAYER"
assert_eq "$(tail -c +11 "$(layout_blob "$SRC" "$LAYER")" | head -c 20 | sha256sum | cut -d' ' -f1)" \
  "$(sha256_of "$WORK/range-redirect")" "a Range request follows the redirect"
req HEAD "/v2/s3/busybox/blobs/$LAYER" "${ADMIN[@]}"
assert_eq 200 "$STATUS" "a HEAD is answered by the registry"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/s3/busybox/blobs/$LAYER")" \
  "no redirect without the pull right"
skopeo copy -q --src-creds "admin:$ADMIN_PASS" --src-tls-verify=false "docker://$REG/s3/busybox:v1" \
  "oci:$WORK/out-redirect:v1" >"$WORK/pull-redirect.out" 2>&1 ||
  { cat "$WORK/pull-redirect.out" >&2; fail "skopeo pull through redirects"; }
assert_eq "$D" "$(layout_digest "$WORK/out-redirect" v1)" "skopeo pulls through the redirects"

log "drydock gc deletes unreferenced blobs and aborts abandoned uploads in S3"
head -c $((6 << 20)) /dev/urandom >"$WORK/abandoned"
req POST "/v2/s3/abandoned/blobs/uploads/" "${ADMIN[@]}"
ABANDONED=$(header Location)
req PATCH "$ABANDONED" "${ADMIN[@]}" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/abandoned"
assert_eq 202 "$STATUS" "an upload with a whole 5 MiB part, then abandoned"
assert_eq 200 "$(s3 GET "drydock?uploads=")" "list multipart uploads"
assert_contains "$(cat "$WORK/s3.body")" "<UploadId>" "S3 holds its multipart upload"
stop_server
cp "$WORK/config.yaml" "$WORK/gc.yaml"
printf 'gc:\n  upload_ttl_seconds: 1\n' >>"$WORK/gc.yaml"
# GC times are whole seconds: with --grace 0 only what is older than this
# second goes, and with upload_ttl_seconds 1 what is two seconds old.
sleep 2.1
"$DRYDOCK_BIN" gc --config "$WORK/gc.yaml" --data "$DATA" --grace 0 >"$WORK/gc.out" 2>&1 ||
  { cat "$WORK/gc.out" >&2; fail "drydock gc"; }
assert_eq 200 "$(s3 GET "drydock?uploads=")" "list multipart uploads after gc"
assert_not_contains "$(cat "$WORK/s3.body")" "<UploadId>" "the abandoned multipart upload was aborted"
assert_eq 200 "$(s3 GET "drydock?list-type=2&prefix=registry%2Fuploads%2F")" "list upload objects after gc"
assert_not_contains "$(cat "$WORK/s3.body")" "<Key>" "nothing of the abandoned upload is left"
hex=${DIG#sha256:}
assert_eq 404 "$(s3 HEAD "drydock/registry/blobs/sha256/${hex:0:2}/$hex" -I)" "the unreferenced blob is gone from S3"
hex=${LAYER#sha256:}
assert_eq 200 "$(s3 HEAD "drydock/registry/blobs/sha256/${hex:0:2}/$hex" -I)" "the tagged image's layer stays"
