#!/usr/bin/env bash
# skopeo against drydock: push OCI layouts (single image, multi-arch index,
# Docker schema2), pull them back to OCI layouts and dir:, compare bytes,
# inspect, list tags, copy across repositories (blob mount) and delete.
. "$(dirname "$0")/lib.sh"

command -v skopeo >/dev/null || fail "skopeo is not installed (scripts/install-deps.sh)"
start_server
SK=(--creds "admin:$ADMIN_PASS" --tls-verify=false)
SRC=(--src-creds "admin:$ADMIN_PASS" --src-tls-verify=false)
DST=(--dest-creds "admin:$ADMIN_PASS" --dest-tls-verify=false)

copy() { skopeo copy -q "$@" >"$WORK/copy.out" 2>&1 || { cat "$WORK/copy.out" >&2; fail "skopeo copy $*"; }; }

# check_layout_blobs SRC_LAYOUT MANIFEST_DIGEST OUT_LAYOUT: every blob of the
# image (manifest, config, layers) is byte-identical in both layouts.
check_layout_blobs() {
  local src=$1 d=$2 out=$3 blob
  assert_same_bytes "$(layout_blob "$src" "$d")" "$(layout_blob "$out" "$d")" "manifest $d"
  for blob in $(jq -r '.config.digest, .layers[].digest' "$(layout_blob "$src" "$d")"); do
    assert_same_bytes "$(layout_blob "$src" "$blob")" "$(layout_blob "$out" "$blob")" "blob $blob"
  done
}

log "single image: OCI layout -> drydock -> OCI layout and dir:"
SRC1="$WORK/src1"
D1=$(make_busybox_layout "$SRC1" v1 "skopeo single image")
copy "${DST[@]}" "oci:$SRC1:v1" "docker://$REG/skopeo/busybox:v1"
ok "pushed oci:$SRC1:v1 as skopeo/busybox:v1"
copy "${SRC[@]}" "docker://$REG/skopeo/busybox:v1" "oci:$WORK/out1:v1"
assert_eq "$D1" "$(layout_digest "$WORK/out1" v1)" "pulled OCI layout's manifest digest"
check_layout_blobs "$SRC1" "$D1" "$WORK/out1"

copy "${SRC[@]}" "docker://$REG/skopeo/busybox:v1" "dir:$WORK/dir1"
assert_same_bytes "$(layout_blob "$SRC1" "$D1")" "$WORK/dir1/manifest.json" "dir: manifest.json"
for blob in $(jq -r '.config.digest, .layers[].digest' "$WORK/dir1/manifest.json"); do
  assert_same_bytes "$(layout_blob "$SRC1" "$blob")" "$WORK/dir1/${blob#sha256:}" "dir: blob $blob"
done

log "skopeo inspect"
skopeo inspect "${SK[@]}" "docker://$REG/skopeo/busybox:v1" >"$WORK/inspect.json"
assert_eq "$D1" "$(jq -r .Digest "$WORK/inspect.json")" "inspect .Digest"
assert_eq "v1" "$(jq -r '.RepoTags | join(",")' "$WORK/inspect.json")" "inspect .RepoTags"
assert_eq "amd64" "$(jq -r .Architecture "$WORK/inspect.json")" "inspect .Architecture"
assert_eq "$(jq -r '[.layers[].digest] | join(" ")' "$(layout_blob "$SRC1" "$D1")")" \
  "$(jq -r '.Layers | join(" ")' "$WORK/inspect.json")" "inspect .Layers"
assert_eq "v1" "$(jq -r '.Labels["drydock.test.tag"]' "$WORK/inspect.json")" "inspect label from config"
skopeo inspect "${SK[@]}" --raw "docker://$REG/skopeo/busybox:v1" >"$WORK/raw.json"
assert_same_bytes "$(layout_blob "$SRC1" "$D1")" "$WORK/raw.json" "inspect --raw"
skopeo inspect "${SK[@]}" --config --raw "docker://$REG/skopeo/busybox:v1" >"$WORK/config.json"
CFG=$(jq -r .config.digest "$WORK/raw.json")
assert_same_bytes "$(layout_blob "$SRC1" "$CFG")" "$WORK/config.json" "inspect --config --raw"

log "multi-arch OCI index"
SRC2="$WORK/src2"
IDX=$(make_multiarch_layout "$SRC2" multi "skopeo multi-arch")
copy "${DST[@]}" --all "oci:$SRC2:multi" "docker://$REG/skopeo/multi:m1"
skopeo inspect "${SK[@]}" --raw "docker://$REG/skopeo/multi:m1" >"$WORK/idx.json"
assert_same_bytes "$(layout_blob "$SRC2" "$IDX")" "$WORK/idx.json" "index manifest bytes"
assert_eq 2 "$(jq '.manifests | length' "$WORK/idx.json")" "index entries"
copy "${SRC[@]}" --all "docker://$REG/skopeo/multi:m1" "oci:$WORK/out2:m1"
assert_eq "$IDX" "$(layout_digest "$WORK/out2" m1)" "pulled index digest"
assert_same_bytes "$(layout_blob "$SRC2" "$IDX")" "$(layout_blob "$WORK/out2" "$IDX")" "pulled index bytes"
for child in $(jq -r '.manifests[].digest' "$WORK/idx.json"); do
  check_layout_blobs "$SRC2" "$child" "$WORK/out2"
done
# Without --all a client resolves the index to one platform's image.
skopeo inspect "${SK[@]}" --override-arch arm64 "docker://$REG/skopeo/multi:m1" >"$WORK/arm.json"
ARM=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$WORK/idx.json")
assert_eq "arm64" "$(jq -r .Architecture "$WORK/arm.json")" "inspect --override-arch arm64: .Architecture"
assert_eq "$(jq -r '[.layers[].digest] | join(" ")' "$(layout_blob "$SRC2" "$ARM")")" \
  "$(jq -r '.Layers | join(" ")' "$WORK/arm.json")" "inspect --override-arch arm64: layers of the arm64 child"

log "Docker schema2 (--format v2s2)"
SRC3="$WORK/src3"
D3=$(make_busybox_layout "$SRC3" v2 "skopeo schema2")
copy "${DST[@]}" --format v2s2 "oci:$SRC3:v2" "docker://$REG/skopeo/docker:v2"
skopeo inspect "${SK[@]}" --raw "docker://$REG/skopeo/docker:v2" >"$WORK/v2s2.json"
assert_eq "application/vnd.docker.distribution.manifest.v2+json" "$(jq -r .mediaType "$WORK/v2s2.json")" \
  "stored manifest mediaType"
V2D="sha256:$(sha256_of "$WORK/v2s2.json")"
assert_ne "$D3" "$V2D" "schema2 digest (converted from OCI)"
req HEAD "/v2/skopeo/docker/manifests/v2" "${ADMIN[@]}" -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
assert_status 200 "$STATUS" "HEAD schema2 manifest"
assert_eq "application/vnd.docker.distribution.manifest.v2+json" "$(header Content-Type)" "schema2 Content-Type"
assert_eq "$V2D" "$(header Docker-Content-Digest)" "schema2 Docker-Content-Digest"
copy "${SRC[@]}" "docker://$REG/skopeo/docker:v2" "dir:$WORK/dir3"
assert_same_bytes "$WORK/v2s2.json" "$WORK/dir3/manifest.json" "schema2 manifest pulled to dir:"
# Conversion keeps the layer bytes; only media types change.
for blob in $(jq -r '.layers[].digest' "$WORK/v2s2.json"); do
  assert_same_bytes "$(layout_blob "$SRC3" "$blob")" "$WORK/dir3/${blob#sha256:}" "schema2 layer $blob"
done
copy "${SRC[@]}" "docker://$REG/skopeo/docker:v2" "oci:$WORK/out3:v2"
ok "schema2 image copied back to an OCI layout"

log "cross-repository copy (blob mount)"
MOUNTED_KEY='drydock_http_requests_total{method="POST",route="upload_start",status="201"}'
MOUNTS_BEFORE=$(metric "$MOUNTED_KEY")
copy "${SRC[@]}" "${DST[@]}" "docker://$REG/skopeo/busybox:v1" "docker://$REG/skopeo/mounted:v1"
assert_eq "$D1" "$(skopeo inspect "${SK[@]}" "docker://$REG/skopeo/mounted:v1" | jq -r .Digest)" "digest after cross-repo copy"
LAYER=$(jq -r '.layers[0].digest' "$WORK/raw.json")
req HEAD "/v2/skopeo/mounted/blobs/$LAYER" "${ADMIN[@]}"
assert_status 200 "$STATUS" "layer present in target repository"
MOUNTS=$(($(metric "$MOUNTED_KEY") - MOUNTS_BEFORE))
[ "$MOUNTS" -ge 2 ] || fail "expected skopeo to mount both layers (POST ?mount= -> 201), saw $MOUNTS"
ok "skopeo mounted $MOUNTS blobs from skopeo/busybox instead of uploading them"

log "list-tags and delete"
copy "${DST[@]}" "oci:$SRC1:v1" "docker://$REG/skopeo/busybox:latest"
SRC4="$WORK/src4"
make_busybox_layout "$SRC4" doomed "skopeo doomed image" >"$WORK/d4"
D4=$(cat "$WORK/d4")
copy "${DST[@]}" "oci:$SRC4:doomed" "docker://$REG/skopeo/busybox:doomed"
copy "${DST[@]}" "oci:$SRC4:doomed" "docker://$REG/skopeo/busybox:doomed-alias"
TAGS=$(skopeo list-tags "${SK[@]}" "docker://$REG/skopeo/busybox" | jq -r '.Tags | sort | join(",")')
assert_eq "doomed,doomed-alias,latest,v1" "$TAGS" "list-tags"
skopeo delete "${SK[@]}" "docker://$REG/skopeo/busybox:doomed" || fail "skopeo delete failed"
ok "skopeo delete skopeo/busybox:doomed"
TAGS=$(skopeo list-tags "${SK[@]}" "docker://$REG/skopeo/busybox" | jq -r '.Tags | sort | join(",")')
assert_eq "latest,v1" "$TAGS" "list-tags after delete (deleting by digest drops every tag of it)"
req GET "/v2/skopeo/busybox/manifests/$D4" "${ADMIN[@]}"
assert_status 404 "$STATUS" "GET deleted manifest by digest"
if skopeo inspect "${SK[@]}" "docker://$REG/skopeo/busybox:doomed" >/dev/null 2>&1; then
  fail "skopeo inspect of a deleted tag succeeded"
fi
ok "skopeo inspect of the deleted tag fails"
assert_eq "$D1" "$(skopeo inspect "${SK[@]}" "docker://$REG/skopeo/busybox:v1" | jq -r .Digest)" "v1 survives the delete"
copy "${SRC[@]}" "docker://$REG/skopeo/busybox:latest" "oci:$WORK/out5:latest"
check_layout_blobs "$SRC1" "$D1" "$WORK/out5"
