#!/usr/bin/env bash
# The /v2 API with curl: the edge cases of the OCI distribution spec (v1.1)
# and its conformance suites (blobs, uploads, manifests, tags, catalog,
# referrers, deletes), plus /metrics.
. "$(dirname "$0")/lib.sh"

start_server
R=api/test  # the main repository
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
OCTET=(-H 'Content-Type: application/octet-stream')

# loc_path: the path+query of the last Location header (it may be absolute).
loc_path() { header Location | sed -E 's#^https?://[^/]+##'; }
# with_digest PATH DIGEST: appends ?digest= (or &digest=).
with_digest() { case "$1" in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }
start_upload() {
  req POST "/v2/${1:-$R}/blobs/uploads/" "${ADMIN[@]}"
  [ "$STATUS" = 202 ] || fail "POST upload -> $STATUS"
  loc_path
}
file_digest() { echo "sha256:$(sha256_of "$1")"; }

log "base endpoint"
req GET /v2/ "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET /v2/ with credentials"
assert_eq "{}" "$LAST_BODY" "GET /v2/ body"
assert_eq "registry/2.0" "$(header Docker-Distribution-API-Version)" "Docker-Distribution-API-Version"
req GET /v2/
assert_status 401 "$STATUS" "GET /v2/ anonymous"
MANIFEST_GETS_BEFORE=$(metric 'drydock_http_requests_total{method="GET",route="manifest_GET",status="200"}')
UPLOADS_BEFORE=$(metric drydock_uploads_in_progress)
# assert_uploads EXPECTED MESSAGE: the uploads_in_progress gauge. It counts
# the sessions a process holds; behind the cluster's balancer a replica keeps
# one another replica ended until it idles out, so there "at least" holds.
assert_uploads() {
  local n
  n=$(metric drydock_uploads_in_progress)
  if [ -z "${DD_TEST_CLUSTER:-}" ]; then
    assert_eq "$1" "$n" "$2"
  else
    [ "$n" -ge "$1" ] || fail "$2: expected at least $1, got $n"
    ok "$2: $n (at least $1)"
  fi
}
BYTES_IN_BEFORE=$(metric drydock_http_received_bytes_total)

log "blobs: missing (2)"
HELLO="sha256:$(sha256_str 'hello world')"
req HEAD "/v2/$R/blobs/$HELLO" "${ADMIN[@]}"
assert_status 404 "$STATUS" "HEAD missing blob"
req GET "/v2/$R/blobs/$HELLO" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET missing blob"
assert_eq BLOB_UNKNOWN "$(error_code)" "error code of GET missing blob"
assert_eq "" "$(raw_head "/v2/$R/blobs/$HELLO")" "bytes after the headers of a HEAD answered 404"
assert_eq "" "$(raw_head /v2/)" "bytes after the headers of HEAD /v2/"
req GET "/v2/$R/blobs/sha256:nothex" "${ADMIN[@]}"
assert_status 400 "$STATUS" "GET blob with a malformed digest"
assert_eq DIGEST_INVALID "$(error_code)" "error code of malformed digest"

log "uploads: POST opens a session (4.1)"
req POST "/v2/$R/blobs/uploads/" "${ADMIN[@]}"
assert_status 202 "$STATUS" "POST /blobs/uploads/"
LOC=$(loc_path)
UUID=$(header Docker-Upload-UUID)
assert_ne "" "$UUID" "Docker-Upload-UUID"
assert_eq "/v2/$R/blobs/uploads/$UUID" "$LOC" "upload Location"
assert_eq "0-0" "$(header Range)" "Range of an empty session"
assert_uploads "$((UPLOADS_BEFORE + 1))" "uploads_in_progress gauge while open"

req POST "/v2/$R/blobs/uploads" "${ADMIN[@]}"
assert_status 202 "$STATUS" "POST /blobs/uploads without the trailing slash"
req DELETE "$(loc_path)" "${ADMIN[@]}"

log "uploads: cancel (DELETE)"
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" --data-binary 'some bytes'
assert_status 202 "$STATUS" "PATCH before cancel"
req DELETE "$LOC" "${ADMIN[@]}"
assert_status 204 "$STATUS" "DELETE upload"
req DELETE "$LOC" "${ADMIN[@]}"
assert_status 404 "$STATUS" "DELETE cancelled upload again"
req GET "$LOC" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET status of cancelled upload"
assert_eq BLOB_UPLOAD_UNKNOWN "$(error_code)" "error code of cancelled upload"
assert_uploads "$UPLOADS_BEFORE" "uploads_in_progress gauge after cancel"

log "uploads: monolithic single POST (4.2)"
head -c 1500 /dev/urandom >"$WORK/mono"
D=$(file_digest "$WORK/mono")
req POST "/v2/$R/blobs/uploads/?digest=$D" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/mono"
assert_status 201 "$STATUS" "POST ?digest= with body"
assert_eq "/v2/$R/blobs/$D" "$(loc_path)" "monolithic POST Location"
req GET "$(loc_path)" "${ADMIN[@]}"; save_body "$WORK/mono.back"
assert_status 200 "$STATUS" "GET the POST's Location"
assert_same_bytes "$WORK/mono" "$WORK/mono.back" "blob from monolithic POST"
head -c 100 /dev/urandom >"$WORK/mono2"
req POST "/v2/$R/blobs/uploads/?digest=$HELLO" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/mono2"
assert_status 400 "$STATUS" "monolithic POST with the wrong digest"
assert_eq DIGEST_INVALID "$(error_code)" "its error code"
req HEAD "/v2/$R/blobs/$(file_digest "$WORK/mono2")" "${ADMIN[@]}"
assert_status 404 "$STATUS" "blob of the rejected POST is absent"

log "uploads: POST + PUT with the whole body"
head -c 3000 /dev/urandom >"$WORK/putbody"
D=$(file_digest "$WORK/putbody")
LOC=$(start_upload)
req PUT "$(with_digest "$LOC" "$D")" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/putbody"
assert_status 201 "$STATUS" "PUT ?digest= with the whole blob"
assert_eq "/v2/$R/blobs/$D" "$(loc_path)" "PUT Location"
assert_eq "$D" "$(header Docker-Content-Digest)" "PUT Docker-Content-Digest"
req GET "$LOC" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET status of a finished upload"
assert_eq BLOB_UPLOAD_UNKNOWN "$(error_code)" "its error code"

log "uploads: digest mismatch and missing digest"
head -c 777 /dev/urandom >"$WORK/bad"
LOC=$(start_upload)
req PUT "$(with_digest "$LOC" "$HELLO")" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/bad"
assert_status 400 "$STATUS" "PUT with a digest that does not match"
assert_eq DIGEST_INVALID "$(error_code)" "its error code"
req HEAD "/v2/$R/blobs/$HELLO" "${ADMIN[@]}"
assert_status 404 "$STATUS" "claimed digest absent after mismatch"
req HEAD "/v2/$R/blobs/$(file_digest "$WORK/bad")" "${ADMIN[@]}"
assert_status 404 "$STATUS" "actual digest absent after mismatch"
LOC=$(start_upload)
req PUT "$LOC" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/bad"
assert_status 400 "$STATUS" "PUT without ?digest="
assert_eq DIGEST_INVALID "$(error_code)" "its error code"
req PUT "$(with_digest "$LOC" "sha256:1234")" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/bad"
assert_status 400 "$STATUS" "PUT with an unparsable digest"
assert_eq DIGEST_INVALID "$(error_code)" "its error code"
req PUT "$(with_digest "$LOC" "$(file_digest "$WORK/bad")")" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/bad"
assert_status 201 "$STATUS" "the session survives PUTs without a usable digest"

log "uploads: chunked, out of order and stale Location (4.3)"
head -c 42 /dev/urandom >"$WORK/c.all"
head -c 22 "$WORK/c.all" >"$WORK/c.1"
tail -c 20 "$WORK/c.all" >"$WORK/c.2"
CD=$(file_digest "$WORK/c.all")
LOC=$(start_upload)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 22-41' --data-binary "@$WORK/c.2"
assert_status 416 "$STATUS" "PATCH of the second chunk first"
OPEN_LOCS=("$LOC")  # sessions left open on purpose; cancelled at the end
POST_LOC=$(start_upload)
req PATCH "$POST_LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 0-21' --data-binary "@$WORK/c.1"
assert_status 202 "$STATUS" "PATCH chunk 0-21"
assert_eq "0-21" "$(header Range)" "Range after chunk 1"
assert_ne "" "$(loc_path)" "Location after chunk 1"
req PATCH "$POST_LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 0-21' --data-binary "@$WORK/c.1"
assert_status 416 "$STATUS" "PATCH chunk 0-21 again at the POST's Location"
assert_eq "0-21" "$(header Range)" "Range on the 416"
req GET "$POST_LOC" "${ADMIN[@]}"
assert_status 204 "$STATUS" "GET upload status at the POST's Location"
assert_eq "0-21" "$(header Range)" "status Range"
LOC=$(loc_path)
assert_ne "" "$LOC" "status Location"
req HEAD "$POST_LOC" "${ADMIN[@]}"
assert_status 204 "$STATUS" "HEAD upload status"
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 22-31' --data-binary "@$WORK/c.2"
assert_status 400 "$STATUS" "PATCH whose Content-Range disagrees with its length"
req GET "$LOC" "${ADMIN[@]}"
assert_eq "0-21" "$(header Range)" "Range unchanged by the rejected chunk"
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 22-41' --data-binary "@$WORK/c.2"
assert_status 202 "$STATUS" "PATCH chunk 22-41 at the status Location"
assert_eq "0-41" "$(header Range)" "Range after chunk 2"
LOC=$(loc_path)
req PUT "$(with_digest "$LOC" "$CD")" "${ADMIN[@]}" -H 'Content-Length: 0'
assert_status 201 "$STATUS" "closing PUT without body"
assert_eq "/v2/$R/blobs/$CD" "$(loc_path)" "closing PUT Location"
req GET "/v2/$R/blobs/$CD" "${ADMIN[@]}"; save_body "$WORK/c.back"
assert_same_bytes "$WORK/c.all" "$WORK/c.back" "chunked blob"

log "uploads: final chunk in the PUT, and an out-of-order final PUT"
head -c 3067 /dev/urandom >"$WORK/f.all"
head -c 2048 "$WORK/f.all" >"$WORK/f.1"
tail -c 1019 "$WORK/f.all" >"$WORK/f.2"
FD=$(file_digest "$WORK/f.all")
LOC=$(start_upload)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 0-2047' --data-binary "@$WORK/f.1"
assert_status 202 "$STATUS" "PATCH 0-2047"
req PUT "$(with_digest "$LOC" "$FD")" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 1000-2018' --data-binary "@$WORK/f.2"
assert_status 416 "$STATUS" "final PUT with an out-of-order Content-Range"
req PUT "$(with_digest "$LOC" "$FD")" "${ADMIN[@]}" "${OCTET[@]}" -H 'Content-Range: 2048-3066' --data-binary "@$WORK/f.2"
assert_status 201 "$STATUS" "final PUT carrying the last chunk"
req GET "/v2/$R/blobs/$FD" "${ADMIN[@]}"; save_body "$WORK/f.back"
assert_same_bytes "$WORK/f.all" "$WORK/f.back" "blob finished by a PUT with body"

log "uploads: streamed PATCH without Content-Range"
head -c 70000 /dev/urandom >"$WORK/s.1"
head -c 5000 /dev/urandom >"$WORK/s.2"
cat "$WORK/s.1" "$WORK/s.2" >"$WORK/s.all"
LOC=$(start_upload)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/s.1"
assert_status 202 "$STATUS" "streamed PATCH with Content-Length"
assert_eq "0-69999" "$(header Range)" "Range after streamed PATCH"
LOC=$(loc_path)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/s.2"
assert_status 202 "$STATUS" "streamed PATCH with Transfer-Encoding: chunked"
assert_eq "0-74999" "$(header Range)" "cumulative Range after the chunked PATCH"
req PUT "$(with_digest "$(loc_path)" "$(file_digest "$WORK/s.all")")" "${ADMIN[@]}"
assert_status 201 "$STATUS" "closing PUT of the streamed upload"
req GET "/v2/$R/blobs/$(file_digest "$WORK/s.all")" "${ADMIN[@]}"; save_body "$WORK/s.back"
assert_same_bytes "$WORK/s.all" "$WORK/s.back" "streamed blob"
LOC=$(start_upload)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/s.1"
assert_status 202 "$STATUS" "first PATCH of a session with Transfer-Encoding: chunked"
assert_eq "0-69999" "$(header Range)" "its Range"
req PUT "$(with_digest "$(loc_path)" "$(file_digest "$WORK/s.1")")" "${ADMIN[@]}"
assert_status 201 "$STATUS" "closing PUT after a chunked-encoded PATCH"

log "uploads: cross-repository mount (4.6)"
req POST "/v2/api/mounted/blobs/uploads/?mount=$HELLO" "${ADMIN[@]}"
assert_status 202 "$STATUS" "mount without from (unknown digest)"
assert_contains "$(loc_path)" "/v2/api/mounted/blobs/uploads/" "its Location"
OPEN_LOCS+=("$(loc_path)")
req POST "/v2/api/mounted/blobs/uploads/?mount=$CD" "${ADMIN[@]}"
assert_status 202 "$STATUS" "mount of an existing digest without from"
OPEN_LOCS+=("$(loc_path)")
req POST "/v2/api/mounted/blobs/uploads/?mount=$HELLO&from=$R" "${ADMIN[@]}"
assert_status 202 "$STATUS" "mount from a repository that lacks the blob"
OPEN_LOCS+=("$(loc_path)")
req GET "${OPEN_LOCS[-1]}" "${ADMIN[@]}"
assert_status 204 "$STATUS" "the fallback session of a failed mount is usable"
req POST "/v2/api/mounted/blobs/uploads/?mount=$CD&from=$R" "${ADMIN[@]}"
assert_status 201 "$STATUS" "mount with from"
assert_eq "/v2/api/mounted/blobs/$CD" "$(loc_path)" "mount Location"
req GET "/v2/api/mounted/blobs/$CD" "${ADMIN[@]}"; save_body "$WORK/m.back"
assert_status 200 "$STATUS" "GET the mounted blob"
assert_same_bytes "$WORK/c.all" "$WORK/m.back" "mounted blob"

log "blobs: HEAD headers and Range GETs (2)"
head -c 2048 /dev/urandom >"$WORK/r"
RD=$(upload_blob "$R" "$WORK/r")
req HEAD "/v2/$R/blobs/$RD" "${ADMIN[@]}"
assert_status 200 "$STATUS" "HEAD existing blob"
assert_eq 2048 "$(header Content-Length)" "HEAD Content-Length"
assert_eq "$RD" "$(header Docker-Content-Digest)" "HEAD Docker-Content-Digest"
assert_eq "" "$(raw_head "/v2/$R/blobs/$RD")" "bytes after the HEAD response's headers"
range_check() {  # range_check RANGE EXPECTED_CONTENT_RANGE OFFSET LENGTH
  req GET "/v2/$R/blobs/$RD" "${ADMIN[@]}" -H "Range: $1"; save_body "$WORK/r.part"
  assert_status 206 "$STATUS" "GET Range: $1"
  assert_eq "$2" "$(header Content-Range)" "Content-Range for $1"
  assert_eq "$4" "$(header Content-Length)" "Content-Length for $1"
  tail -c +"$(($3 + 1))" "$WORK/r" | head -c "$4" >"$WORK/r.want"
  assert_same_bytes "$WORK/r.want" "$WORK/r.part" "body for $1"
}
range_check bytes=500-1499 "bytes 500-1499/2048" 500 1000
range_check bytes=500- "bytes 500-2047/2048" 500 1548
range_check bytes=-500 "bytes 1548-2047/2048" 1548 500
range_check bytes=2000-5000 "bytes 2000-2047/2048" 2000 48
for bad in bytes=5000-10000 bytes=500-0; do
  req GET "/v2/$R/blobs/$RD" "${ADMIN[@]}" -H "Range: $bad"
  assert_status 416 "$STATUS" "GET Range: $bad"
done
assert_eq "bytes */2048" "$(header Content-Range)" "Content-Range of a 416"

log "blobs: empty blob and sha512"
EMPTY=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
LOC=$(start_upload)
req PUT "$(with_digest "$LOC" "$EMPTY")" "${ADMIN[@]}"
assert_status 201 "$STATUS" "push the empty blob"
req HEAD "/v2/$R/blobs/$EMPTY" "${ADMIN[@]}"
assert_status 200 "$STATUS" "HEAD the empty blob"
assert_eq 0 "$(header Content-Length)" "empty blob Content-Length"
req GET "/v2/$R/blobs/$EMPTY" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET the empty blob"
assert_eq "" "$LAST_BODY" "empty blob body"
req DELETE "/v2/$R/blobs/$EMPTY" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE the empty blob"
req HEAD "/v2/$R/blobs/$EMPTY" "${ADMIN[@]}"
assert_status 404 "$STATUS" "HEAD the deleted empty blob"

head -c 4000 /dev/urandom >"$WORK/s512"
D512="sha512:$(sha512sum "$WORK/s512" | cut -d' ' -f1)"
LOC=$(start_upload)
req PATCH "$LOC" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/s512"
req PUT "$(with_digest "$(loc_path)" "$D512")" "${ADMIN[@]}"
assert_status 201 "$STATUS" "PUT a sha512 blob"
req HEAD "/v2/$R/blobs/$D512" "${ADMIN[@]}"
assert_eq "$D512" "$(header Docker-Content-Digest)" "sha512 Docker-Content-Digest"
req GET "/v2/$R/blobs/$D512" "${ADMIN[@]}"; save_body "$WORK/s512.back"
assert_same_bytes "$WORK/s512" "$WORK/s512.back" "sha512 blob"
head -c 999 /dev/urandom >"$WORK/s512b"
D512B="sha512:$(sha512sum "$WORK/s512b" | cut -d' ' -f1)"
req POST "/v2/$R/blobs/uploads/?digest=$D512B" "${ADMIN[@]}" "${OCTET[@]}" --data-binary "@$WORK/s512b"
assert_status 201 "$STATUS" "monolithic POST of a sha512 blob"

log "manifests: push and pull (3, 5)"
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config.json"
CFG=$(upload_blob "$R" "$WORK/config.json")
CFG_SIZE=$(stat -c %s "$WORK/config.json")
head -c 1024 /dev/urandom >"$WORK/layer"
LAYER=$(upload_blob "$R" "$WORK/layer")
# Odd spacing, an unknown field and descriptor data: bytes must survive as pushed.
make_manifest() {  # make_manifest FILE EXTRA_ANNOTATION
  printf '{\n  "schemaVersion": 2,\n  "mediaType": "%s",\n  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "%s", "size": %s},\n  "layers": [ {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "%s", "size": 1024, "data": ""} ],\n  "annotations": {"drydock.test": "%s"},\n  "newUnspecifiedField": [1, 2,   3]\n}\n' \
    "$OCI_MANIFEST" "$CFG" "$CFG_SIZE" "$LAYER" "$2" >"$1"
}
make_manifest "$WORK/m1.json" one
M1=$(file_digest "$WORK/m1.json")
M1_SIZE=$(stat -c %s "$WORK/m1.json")
put_manifest "$R" v1 "$WORK/m1.json"
assert_status 201 "$STATUS" "PUT manifest by tag"
assert_eq "$M1" "$(header Docker-Content-Digest)" "PUT Docker-Content-Digest"
assert_eq "/v2/$R/manifests/$M1" "$(loc_path)" "PUT Location"
req GET "$(loc_path)" "${ADMIN[@]}"; save_body "$WORK/m1.loc"
assert_status 200 "$STATUS" "GET the manifest PUT's Location"
assert_same_bytes "$WORK/m1.json" "$WORK/m1.loc" "manifest at its Location"
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}"; save_body "$WORK/m1.back"
assert_status 200 "$STATUS" "GET manifest by tag without Accept"
assert_same_bytes "$WORK/m1.json" "$WORK/m1.back" "manifest bytes by tag"
assert_eq "$OCI_MANIFEST" "$(header Content-Type)" "GET Content-Type"
req GET "/v2/$R/manifests/$M1" "${ADMIN[@]}"; save_body "$WORK/m1.back2"
assert_status 200 "$STATUS" "GET manifest by digest"
assert_same_bytes "$WORK/m1.json" "$WORK/m1.back2" "manifest bytes by digest"
req HEAD "/v2/$R/manifests/v1" "${ADMIN[@]}"
assert_status 200 "$STATUS" "HEAD manifest"
assert_eq "$M1_SIZE" "$(header Content-Length)" "HEAD Content-Length"
assert_eq "$M1" "$(header Docker-Content-Digest)" "HEAD Docker-Content-Digest"
assert_eq "$OCI_MANIFEST" "$(header Content-Type)" "HEAD Content-Type"
assert_eq "" "$(raw_head "/v2/$R/manifests/v1")" "bytes after the manifest HEAD response's headers"

make_manifest "$WORK/m2.json" two
M2=$(file_digest "$WORK/m2.json")
put_manifest "$R" "$M2" "$WORK/m2.json"
assert_status 201 "$STATUS" "PUT manifest by its digest"
req GET "/v2/$R/manifests/$M2" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET manifest pushed by digest"
make_manifest "$WORK/m3.json" three
put_manifest "$R" "$M1" "$WORK/m3.json"
assert_status 400 "$STATUS" "PUT manifest under another manifest's digest"
assert_eq DIGEST_INVALID "$(error_code)" "its error code"
req GET "/v2/$R/manifests/$(file_digest "$WORK/m3.json")" "${ADMIN[@]}"
assert_status 404 "$STATUS" "manifest rejected for its digest is absent"
put_manifest "$R" sha256:baddigeststring "$WORK/m3.json"
assert_status 400 "$STATUS" "PUT /manifests/sha256:baddigeststring"
req GET "/v2/$R/manifests/sha256:totallywrong" "${ADMIN[@]}"
assert_status "400|404" "$STATUS" "GET /manifests/sha256:totallywrong"
if [ "$STATUS" = 400 ]; then
  # The v1.1.1 conformance suite accepts 400 only with one of the spec's codes.
  assert_contains " DIGEST_INVALID MANIFEST_INVALID MANIFEST_UNKNOWN NAME_INVALID " " $(error_code) " \
    "spec error code list"
fi
M512="$WORK/m512.json"
make_manifest "$M512" sha512
D512M="sha512:$(sha512sum "$M512" | cut -d' ' -f1)"
put_manifest "$R" "$D512M" "$M512"
assert_status 201 "$STATUS" "PUT manifest by sha512 digest"
req GET "/v2/$R/manifests/$D512M" "${ADMIN[@]}"; save_body "$WORK/m512.back"
assert_same_bytes "$M512" "$WORK/m512.back" "manifest fetched by sha512 digest"

printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' \
  "$CFG" "$CFG_SIZE" >"$WORK/nomt.json"
put_manifest "$R" no-media-type "$WORK/nomt.json"
assert_status 201 "$STATUS" "PUT manifest without mediaType field (Content-Type says OCI)"
req GET "/v2/$R/manifests/no-media-type" "${ADMIN[@]}"
assert_eq "$OCI_MANIFEST" "$(header Content-Type)" "its Content-Type"

ND="sha256:$(sha256_str "a non-distributable layer kept elsewhere")"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"%s","size":1234,"urls":["https://store.example.com/blobs/%s"]}]}' \
  "$OCI_MANIFEST" "$CFG" "$CFG_SIZE" "$ND" "$ND" >"$WORK/nd.json"
put_manifest "$R" nondistributable "$WORK/nd.json"
assert_status 201 "$STATUS" "PUT manifest with a never-pushed non-distributable layer"

log "manifests: invalid pushes"
sed "s/$LAYER/$HELLO/" "$WORK/m1.json" >"$WORK/missing.json"
put_manifest "$R" missing "$WORK/missing.json"
assert_status 400 "$STATUS" "PUT manifest whose layer was never pushed"
assert_eq MANIFEST_BLOB_UNKNOWN "$(error_code)" "its error code"
printf '{"schemaVersion": 2, "config": ' >"$WORK/broken.json"
put_manifest "$R" broken "$WORK/broken.json"
assert_status 400 "$STATUS" "PUT malformed JSON"
assert_eq MANIFEST_INVALID "$(error_code)" "its error code"
req GET "/v2/$R/manifests/broken" "${ADMIN[@]}"
assert_status 404 "$STATUS" "rejected tag is absent"
# Just under the 4 MiB limit (the new conformance suite pushes ~3.9 MB) is fine; over it is 413.
big_manifest() {  # big_manifest FILE COUNT: COUNT annotations of 10 kB each
  jq -c --arg cfg "$CFG" --argjson cs "$CFG_SIZE" --argjson n "$2" '{schemaVersion: 2, mediaType: "'$OCI_MANIFEST'",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cs}, layers: [],
      annotations: ([range($n)] | map({key: "a\(.)", value: ("x" * 10000)}) | from_entries)}' -n >"$1"
}
big_manifest "$WORK/large.json" 390
put_manifest "$R" large "$WORK/large.json"
assert_status 201 "$STATUS" "PUT a $(stat -c %s "$WORK/large.json")-byte manifest"
big_manifest "$WORK/huge.json" 430
put_manifest "$R" huge "$WORK/huge.json"
assert_status 413 "$STATUS" "PUT a $(stat -c %s "$WORK/huge.json")-byte manifest"
req GET "/v2/$R/manifests/huge" "${ADMIN[@]}"
assert_status 404 "$STATUS" "oversized manifest is absent"

log "tags and names: invalid"
put_manifest "$R" .INVALID_MANIFEST_NAME "$WORK/m1.json"
assert_status 400 "$STATUS" "PUT invalid tag"
assert_eq TAG_INVALID "$(error_code)" "its error code"
req GET "/v2/$R/manifests/.INVALID_MANIFEST_NAME" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET invalid tag"
req HEAD "/v2/$R/manifests/.INVALID_MANIFEST_NAME" "${ADMIN[@]}"
assert_status 404 "$STATUS" "HEAD invalid tag"
put_manifest "$R" "$(printf 't%.0s' $(seq 1 129))" "$WORK/m1.json"
assert_status 400 "$STATUS" "PUT a 129-character tag"
for name in UPPER/case a//b ../x "a/b/" "-lead" "a__-b"; do
  req GET "/v2/$name/tags/list" "${ADMIN[@]}" --path-as-is
  assert_status 400 "$STATUS" "tags/list of invalid name '$name'"
  assert_eq NAME_INVALID "$(error_code)" "its error code"
done
req PUT "/v2/UPPER/case/manifests/v1" "${ADMIN[@]}" -H "Content-Type: $OCI_MANIFEST" --data-binary "@$WORK/m1.json"
assert_status 400 "$STATUS" "PUT manifest into an invalid name"
assert_eq NAME_INVALID "$(error_code)" "its error code"
req POST "/v2/a//b/blobs/uploads/" "${ADMIN[@]}" --path-as-is
assert_status 400 "$STATUS" "POST upload into 'a//b'"

log "manifests: Accept handling"
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}" -H "Accept: $OCI_INDEX" -H "Accept: $OCI_MANIFEST"
assert_status 200 "$STATUS" "two Accept header lines"
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}" -H "Accept: $DOCKER_MANIFEST;q=0.9, $OCI_MANIFEST;q=0.5"
assert_status 200 "$STATUS" "Accept list with parameters"
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}" -H "Accept: */*"
assert_status 200 "$STATUS" "Accept: */*"
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}" -H "Accept: $DOCKER_MANIFEST"
assert_status 404 "$STATUS" "Accept that excludes the OCI manifest type"
assert_eq MANIFEST_UNKNOWN "$(error_code)" "its error code"

log "deletes (8)"
put_manifest "$R" del-a "$WORK/m2.json"
put_manifest "$R" del-b "$WORK/m2.json"
req DELETE "/v2/$R/manifests/del-a" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE by tag"
req HEAD "/v2/$R/manifests/del-a" "${ADMIN[@]}"
assert_status 404 "$STATUS" "HEAD deleted tag"
req HEAD "/v2/$R/manifests/$M2" "${ADMIN[@]}"
assert_status 200 "$STATUS" "manifest survives deleting one of its tags"
req DELETE "/v2/$R/manifests/del-a" "${ADMIN[@]}"
assert_status 404 "$STATUS" "DELETE an unknown tag"
req GET "/v2/$R/tags/list" "${ADMIN[@]}"
BEFORE=$(jq '.tags | length' <<<"$LAST_BODY")
req DELETE "/v2/$R/manifests/$M2" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE by digest"
req HEAD "/v2/$R/manifests/$M2" "${ADMIN[@]}"
assert_status 404 "$STATUS" "HEAD manifest deleted by digest"
req HEAD "/v2/$R/manifests/del-b" "${ADMIN[@]}"
assert_status 404 "$STATUS" "tag of the manifest deleted by digest"
req GET "/v2/$R/tags/list" "${ADMIN[@]}"
assert_eq "$((BEFORE - 1))" "$(jq '.tags | length' <<<"$LAST_BODY")" "tag count after delete by digest"
assert_not_contains "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" del-b "tags after delete by digest"
req DELETE "/v2/$R/manifests/$M2" "${ADMIN[@]}"
assert_status 404 "$STATUS" "DELETE the same digest again"
req DELETE "/v2/$R/blobs/$FD" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE blob"
req GET "/v2/$R/blobs/$FD" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET deleted blob"
req DELETE "/v2/$R/blobs/$FD" "${ADMIN[@]}"
assert_status 404 "$STATUS" "DELETE deleted blob"

log "tags list pagination (6)"
T=api/tags
# The manifest's config blob must be in api/tags too: mount it.
req POST "/v2/$T/blobs/uploads/?mount=$CFG&from=$R" "${ADMIN[@]}"
assert_status 201 "$STATUS" "mount the config blob into $T"
for i in 0 1 2 3 4 5 6 7 8 9; do
  req PUT "/v2/$T/manifests/t$i" "${ADMIN[@]}" -H "Content-Type: $OCI_MANIFEST" --data-binary "@$WORK/nomt.json"
  [ "$STATUS" = 201 ] || fail "tagging t$i: $STATUS"
done
req GET "/v2/$T/tags/list" "${ADMIN[@]}"
assert_status 200 "$STATUS" "tags/list"
assert_eq "$T" "$(jq -r .name <<<"$LAST_BODY")" "tags/list name"
assert_eq "t0,t1,t2,t3,t4,t5,t6,t7,t8,t9" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "all tags, sorted"
assert_eq "" "$(header Link)" "no Link without n"
req GET "/v2/$T/tags/list?n=3" "${ADMIN[@]}"
assert_eq "t0,t1,t2" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "n=3"
LINK=$(header Link)
assert_eq "</v2/$T/tags/list?last=t2&n=3>; rel=\"next\"" "$LINK" "Link for n=3"
NEXT=$(sed -E 's/^<([^>]*)>.*/\1/' <<<"$LINK")
req GET "$NEXT" "${ADMIN[@]}"
assert_eq "t3,t4,t5" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "following the Link"
req GET "/v2/$T/tags/list?n=5&last=t8" "${ADMIN[@]}"
assert_eq "t9" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "n=5&last=t8"
assert_eq "" "$(header Link)" "no Link on the last page"
req GET "/v2/$T/tags/list?last=t5" "${ADMIN[@]}"
assert_eq "t6,t7,t8,t9" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "last=t5 without n"
req GET "/v2/$T/tags/list?last=t45&n=2" "${ADMIN[@]}"
assert_eq "t5,t6" "$(jq -r '.tags | join(",")' <<<"$LAST_BODY")" "last=<not a tag>"
req GET "/v2/$T/tags/list?n=0" "${ADMIN[@]}"
assert_status 200 "$STATUS" "n=0"
assert_eq "[]" "$(jq -c .tags <<<"$LAST_BODY")" "n=0 tags"
assert_eq "" "$(header Link)" "no Link for n=0"
req GET "/v2/$T/tags/list?n=-1" "${ADMIN[@]}"
assert_status 400 "$STATUS" "n=-1"
req GET "/v2/api/never-pushed/tags/list" "${ADMIN[@]}"
assert_status 404 "$STATUS" "tags/list of an unknown repository"
assert_eq NAME_UNKNOWN "$(error_code)" "its error code"

log "catalog pagination"
req GET "/v2/_catalog" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET /v2/_catalog"
ALL=$(jq -r '.repositories | join(",")' <<<"$LAST_BODY")
assert_eq "api/mounted,api/tags,api/test" "$ALL" "catalog"
req GET "/v2/_catalog?n=2" "${ADMIN[@]}"
assert_eq "api/mounted,api/tags" "$(jq -r '.repositories | join(",")' <<<"$LAST_BODY")" "catalog n=2"
LINK=$(header Link)
assert_eq "</v2/_catalog?last=api/tags&n=2>; rel=\"next\"" "$LINK" "catalog Link"
req GET "$(sed -E 's/^<([^>]*)>.*/\1/' <<<"$LINK")" "${ADMIN[@]}"
assert_eq "api/test" "$(jq -r '.repositories | join(",")' <<<"$LAST_BODY")" "catalog second page"
req GET "/v2/_catalog?n=0" "${ADMIN[@]}"
assert_eq "[]" "$(jq -c .repositories <<<"$LAST_BODY")" "catalog n=0"
assert_eq "" "$(header Link)" "no catalog Link for n=0"

log "referrers (7)"
RR=api/refs
printf '{}' >"$WORK/empty.json"
EMPTY_CFG=$(upload_blob "$RR" "$WORK/empty.json")
SCFG=$(upload_blob "$RR" "$WORK/config.json")
head -c 300 /dev/urandom >"$WORK/sig"
SIG=$(upload_blob "$RR" "$WORK/sig")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' \
  "$OCI_MANIFEST" "$SCFG" "$CFG_SIZE" >"$WORK/subject.json"
SUBJ=$(file_digest "$WORK/subject.json")
SUBJ_SIZE=$(stat -c %s "$WORK/subject.json")
# A: artifactType set; B: none, so its config media type counts; C: an index.
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.test.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.test.sig.layer","digest":"%s","size":300}],"subject":{"mediaType":"%s","digest":"%s","size":%s},"annotations":{"org.opencontainers.conformance.test":"ref-a"}}' \
  "$OCI_MANIFEST" "$EMPTY_CFG" "$SIG" "$OCI_MANIFEST" "$SUBJ" "$SUBJ_SIZE" >"$WORK/ref-a.json"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.test.config.b","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.test.sig.layer","digest":"%s","size":300}],"subject":{"mediaType":"%s","digest":"%s","size":%s},"annotations":{"org.opencontainers.conformance.test":"ref-b"}}' \
  "$OCI_MANIFEST" "$EMPTY_CFG" "$SIG" "$OCI_MANIFEST" "$SUBJ" "$SUBJ_SIZE" >"$WORK/ref-b.json"
REF_A=$(file_digest "$WORK/ref-a.json")
REF_B=$(file_digest "$WORK/ref-b.json")
put_manifest "$RR" "$REF_A" "$WORK/ref-a.json"
assert_status 201 "$STATUS" "PUT a referrer before its subject exists"
assert_eq "$SUBJ" "$(header OCI-Subject)" "OCI-Subject for a missing subject"
put_manifest "$RR" subject "$WORK/subject.json"
assert_status 201 "$STATUS" "PUT the subject"
assert_eq "" "$(header OCI-Subject)" "no OCI-Subject without subject"
put_manifest "$RR" "$REF_B" "$WORK/ref-b.json"
assert_status 201 "$STATUS" "PUT a second referrer"
assert_eq "$SUBJ" "$(header OCI-Subject)" "OCI-Subject for an existing subject"
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.test.index","manifests":[{"mediaType":"%s","digest":"%s","size":%s}],"subject":{"mediaType":"%s","digest":"%s","size":%s},"annotations":{"org.opencontainers.conformance.test":"ref-c"}}' \
  "$OCI_INDEX" "$OCI_MANIFEST" "$REF_A" "$(stat -c %s "$WORK/ref-a.json")" "$OCI_MANIFEST" "$SUBJ" "$SUBJ_SIZE" >"$WORK/ref-c.json"
REF_C=$(file_digest "$WORK/ref-c.json")
put_manifest "$RR" "$REF_C" "$WORK/ref-c.json" "$OCI_INDEX"
assert_status 201 "$STATUS" "PUT an index with a subject"
assert_eq "$SUBJ" "$(header OCI-Subject)" "OCI-Subject on an index"

req GET "/v2/$RR/referrers/$SUBJ" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET referrers"
assert_eq "$OCI_INDEX" "$(header Content-Type)" "referrers Content-Type (exact)"
assert_eq "2 $OCI_INDEX" "$(jq -r '"\(.schemaVersion) \(.mediaType)"' <<<"$LAST_BODY")" "referrers index header"
assert_eq 3 "$(jq '.manifests | length' <<<"$LAST_BODY")" "referrer count"
want=$(jq -cn --arg a "$REF_A" --arg b "$REF_B" --arg c "$REF_C" --arg m "$OCI_MANIFEST" --arg i "$OCI_INDEX" \
  --argjson sa "$(stat -c %s "$WORK/ref-a.json")" --argjson sb "$(stat -c %s "$WORK/ref-b.json")" \
  --argjson sc "$(stat -c %s "$WORK/ref-c.json")" '[
    {mediaType: $m, digest: $a, size: $sa, artifactType: "application/vnd.test.sig",
     annotations: {"org.opencontainers.conformance.test": "ref-a"}},
    {mediaType: $m, digest: $b, size: $sb, artifactType: "application/vnd.test.config.b",
     annotations: {"org.opencontainers.conformance.test": "ref-b"}},
    {mediaType: $i, digest: $c, size: $sc, artifactType: "application/vnd.test.index",
     annotations: {"org.opencontainers.conformance.test": "ref-c"}}] | sort_by(.digest)' | jq -cS .)
assert_eq "$want" "$(jq -cS '.manifests | sort_by(.digest)' <<<"$LAST_BODY")" "referrer descriptors"
assert_eq "" "$(header OCI-Filters-Applied)" "no OCI-Filters-Applied without a filter"
req GET "/v2/$RR/referrers/$SUBJ?artifactType=application/vnd.test.sig" "${ADMIN[@]}"
assert_status 200 "$STATUS" "GET referrers?artifactType="
assert_eq artifactType "$(header OCI-Filters-Applied)" "OCI-Filters-Applied"
assert_eq "$REF_A" "$(jq -r '[.manifests[].digest] | join(",")' <<<"$LAST_BODY")" "filtered referrers"
req GET "/v2/$RR/referrers/$SUBJ?artifactType=application/vnd.nothing" "${ADMIN[@]}"
assert_eq "[]" "$(jq -c .manifests <<<"$LAST_BODY")" "filter matching nothing"
req GET "/v2/$RR/referrers/$HELLO" "${ADMIN[@]}"
assert_status 200 "$STATUS" "referrers of an unknown digest"
assert_eq "[]" "$(jq -c .manifests <<<"$LAST_BODY")" "its manifests"
req GET "/v2/api/no-such-repo/referrers/$HELLO" "${ADMIN[@]}"
assert_status 200 "$STATUS" "referrers in a never-created repository"
assert_eq "$OCI_INDEX" "$(jq -r .mediaType <<<"$LAST_BODY")" "its mediaType"
req GET "/v2/$RR/referrers/sha256:zzz" "${ADMIN[@]}"
assert_status 400 "$STATUS" "referrers of a malformed digest"
req DELETE "/v2/$RR/manifests/$REF_B" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE a referrer"
req GET "/v2/$RR/referrers/$SUBJ" "${ADMIN[@]}"
assert_eq "$(sort <<<"$REF_A"$'\n'"$REF_C" | paste -sd,)" \
  "$(jq -r '[.manifests[].digest] | sort | join(",")' <<<"$LAST_BODY")" "referrers after the delete"
req DELETE "/v2/$RR/manifests/$SUBJ" "${ADMIN[@]}"
assert_status 202 "$STATUS" "DELETE the subject"
for ref in "$REF_A" "$REF_C"; do
  req GET "/v2/$RR/manifests/$ref" "${ADMIN[@]}"
  assert_status 404 "$STATUS" "its referrer $ref went with it"
done
req GET "/v2/$RR/referrers/$SUBJ" "${ADMIN[@]}"
assert_eq "[]" "$(jq -c .manifests <<<"$LAST_BODY")" "no referrers left"

log "metrics"
for i in 1 2 3; do req GET "/v2/$R/manifests/v1" "${ADMIN[@]}"; done
AFTER=$(metric 'drydock_http_requests_total{method="GET",route="manifest_GET",status="200"}')
[ "$AFTER" -ge "$((MANIFEST_GETS_BEFORE + 3))" ] || fail "manifest_GET 200 counter: $MANIFEST_GETS_BEFORE -> $AFTER"
ok "manifest_GET 200 counter moved $MANIFEST_GETS_BEFORE -> $AFTER"
N=$(metric 'drydock_http_requests_total{method="GET",route="manifest_GET",status="200"}')
req GET "/v2/$R/manifests/v1" "${ADMIN[@]}"
assert_eq "$((N + 1))" "$(metric 'drydock_http_requests_total{method="GET",route="manifest_GET",status="200"}')" \
  "manifest_GET counter after exactly one more GET"
BYTES_IN=$(metric drydock_http_received_bytes_total)
[ "$BYTES_IN" -ge "$((BYTES_IN_BEFORE + 4000000))" ] || fail "received bytes: $BYTES_IN_BEFORE -> $BYTES_IN"
ok "drydock_http_received_bytes_total moved $BYTES_IN_BEFORE -> $BYTES_IN"
assert_uploads "$((UPLOADS_BEFORE + ${#OPEN_LOCS[@]}))" "uploads_in_progress with ${#OPEN_LOCS[@]} sessions left open"
for LOC in "${OPEN_LOCS[@]}"; do
  req DELETE "$LOC" "${ADMIN[@]}"
  assert_status 204 "$STATUS" "cancel $LOC"
done
assert_uploads "$UPLOADS_BEFORE" "uploads_in_progress at the end"
