#!/usr/bin/env bash
# drydock build --local: zstd layers, --output docker-archive:, the bounded
# cache (--cache-max-size: least recently used records go first, never while
# another build runs) and sharing the cache through a registry
# (--cache-to / --cache-from).
. "$(dirname "$0")/lib.sh"

start_server
use_build_env

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
BASE="$REG/base/busybox:1"
ZSTD_TYPE=application/vnd.oci.image.layer.v1.tar+zstd

# raw_manifest REPO:TAG: the manifest bytes in the test registry.
raw_manifest() {
  skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/$1"
}

# apply_layout LAYOUT TAG DIR: extracts every layer of an OCI layout's image
# into DIR in order (tar detects gzip and zstd itself; no whiteouts here).
apply_layout() {
  local manifest layer
  mkdir -p "$3"
  manifest=$(layout_blob "$1" "$(layout_digest "$1" "$2")")
  for layer in $(jq -r '.layers[].digest' "$manifest"); do
    tar -xf "$(layout_blob "$1" "$layer")" -C "$3"
  done
}

# state_usage DIR: bytes the state dir's layers and snapshots take on disk,
# counted the way the prune counts them.
state_usage() {
  find "$1/layers" "$1/snapshots" -mindepth 1 -printf '%b\n' | awk '{ s += $1 * 512 } END { print s + 0 }'
}

log "--compression zstd: new layers are zstd, in the registry and through skopeo"
mkdir -p "$WORK/zs"
echo "zstd content" >"$WORK/zs/hello.txt"
cat >"$WORK/zs/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY hello.txt /hello.txt
RUN echo ran > /ran.txt
DOCKERFILE
DZ=$(build zs -t "$REG/test/zs:1" --push --compression zstd)
MAN=$(raw_manifest test/zs:1)
assert_eq "$DZ" "sha256:$(printf '%s' "$MAN" | sha256sum | cut -d' ' -f1)" "pushed zstd manifest digest"
GZIP_TYPE=application/vnd.oci.image.layer.v1.tar+gzip
assert_eq "$GZIP_TYPE $GZIP_TYPE $ZSTD_TYPE $ZSTD_TYPE" \
  "$(jq -r '[.layers[].mediaType] | join(" ")' <<<"$MAN")" "layer media types (the base's two keep gzip)"
skopeo copy -q --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" "docker://$REG/test/zs:1" "oci:$WORK/zs-oci:x" >/dev/null
TOP=$(layout_blob "$WORK/zs-oci" "$(jq -r '.layers[3].digest' "$(layout_blob "$WORK/zs-oci" "$(layout_digest "$WORK/zs-oci" x)")")")
assert_eq "28b52ffd" "$(head -c4 "$TOP" | od -An -tx1 | tr -d ' \n')" "top layer blob starts with the zstd magic"
zstd -t -q "$TOP" || fail "zstd -t rejects the top layer"
ok "zstd -t accepts the top layer"
apply_layout "$WORK/zs-oci" x "$WORK/zs-fs"
assert_eq "zstd content" "$(cat "$WORK/zs-fs/hello.txt")" "COPY in a zstd layer"
assert_eq "ran" "$(cat "$WORK/zs-fs/ran.txt")" "RUN in a zstd layer"
[ -x "$WORK/zs-fs/bin/busybox" ] || fail "base layer content missing"
ok "base content present"

log "the compression is part of the cache key"
build zs --compression zstd >/dev/null
assert_eq 2 "$(grep -c CACHED "$WORK/zs.log")" "zstd rebuild: cached steps"
DG=$(build zs -t "$REG/test/zs:gzip" --push)
assert_eq 0 "$(grep -c CACHED "$WORK/zs.log" || true)" "gzip build after a zstd one: cached steps"
assert_eq 0 "$(raw_manifest test/zs:gzip | jq "[.layers[] | select(.mediaType == \"$ZSTD_TYPE\")] | length")" \
  "zstd layers in the gzip build"
assert_ne "$DZ" "$DG" "gzip and zstd image digests"

log "--docker-format with zstd is refused"
if "$DRYDOCK_BIN" build --local --docker-format --compression zstd "$WORK/zs" >"$WORK/dz.out" 2>"$WORK/dz.log"; then
  fail "--docker-format --compression zstd should fail"
fi
assert_contains "$(cat "$WORK/dz.log")" "Docker schema 2 has no zstd" "error for --docker-format with zstd"
if "$DRYDOCK_BIN" build --local --compression lz4 "$WORK/zs" >/dev/null 2>&1; then fail "--compression lz4 accepted"; fi
ok "--compression lz4 refused"

log "--output docker-archive: (from zstd layers), read by skopeo and podman"
D_ARCH=$(build zs --compression zstd -t "$REG/test/zs:2" -t docker.io/library/zs:2 \
  --output "docker-archive:$WORK/out/zs.tar")
assert_eq "$DZ" "$D_ARCH" "cached zstd rebuild digest"
CFG_DIGEST=$(raw_manifest test/zs:1 | jq -r .config.digest)
tar -xOf "$WORK/out/zs.tar" manifest.json >"$WORK/archive-manifest.json"
assert_eq "[\"$REG/test/zs:2\",\"zs:2\"]" "$(jq -c '.[0].RepoTags' "$WORK/archive-manifest.json")" "RepoTags"
assert_eq "${CFG_DIGEST#sha256:}.json" "$(jq -r '.[0].Config' "$WORK/archive-manifest.json")" "Config entry"
assert_eq "$(raw_manifest test/zs:1 | jq '.layers | length')" "$(jq '.[0].Layers | length' "$WORK/archive-manifest.json")" "layer count"
FIRST=$(jq -r '.[0].Layers[3]' "$WORK/archive-manifest.json")
tar -xOf "$WORK/out/zs.tar" "$FIRST" | tar -t >/dev/null || fail "$FIRST is not a plain tar"
assert_eq "sha256:${FIRST%/layer.tar}" "$(tar -xOf "$WORK/out/zs.tar" "$FIRST" | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/')" \
  "layer.tar is named by its diff ID"
skopeo copy -q "docker-archive:$WORK/out/zs.tar" "oci:$WORK/arch-oci:x" >"$WORK/skopeo-archive.out" 2>&1 ||
  { cat "$WORK/skopeo-archive.out" >&2; fail "skopeo copy docker-archive: failed"; }
assert_eq "$CFG_DIGEST" "$(skopeo inspect --raw "docker-archive:$WORK/out/zs.tar" | jq -r .config.digest)" \
  "config digest skopeo reads from the archive"
assert_eq "$(config_of test/zs:1 | jq -c .rootfs.diff_ids)" \
  "$(skopeo inspect --config --raw "docker-archive:$WORK/out/zs.tar" | jq -c .rootfs.diff_ids)" "diff IDs in the archive"
apply_layout "$WORK/arch-oci" x "$WORK/arch-fs"
assert_eq "zstd content" "$(cat "$WORK/arch-fs/hello.txt")" "COPY content through docker-archive:"
assert_eq "ran" "$(cat "$WORK/arch-fs/ran.txt")" "RUN content through docker-archive:"
skopeo copy -q "docker-archive:$WORK/out/zs.tar:zs:2" "oci:$WORK/arch-oci:y" >/dev/null 2>&1 ||
  fail "skopeo cannot pick the image by its RepoTag"
ok "skopeo picks docker-archive:FILE:zs:2 by tag"
build zs --compression zstd -t "$REG/test/zs:2" -t docker.io/library/zs:2 --output "docker-archive:$WORK/out/again.tar" >/dev/null
assert_same_bytes "$WORK/out/zs.tar" "$WORK/out/again.tar" "the same image gives the same archive"
podman load -q -i "$WORK/out/zs.tar" >"$WORK/podman-load.out" 2>&1 ||
  { cat "$WORK/podman-load.out" >&2; fail "podman load failed"; }
assert_contains "$(podman images --format '{{.Repository}}:{{.Tag}}')" "$REG/test/zs:2" "podman images after load"
# RepoTags has docker's short form ("zs:2"), which podman load names localhost/zs:2.
assert_contains "$(podman images --format '{{.Repository}}:{{.Tag}}')" "localhost/zs:2" "podman images after load"
assert_eq "${CFG_DIGEST#sha256:}" "$(podman image inspect --format '{{.ID}}' zs:2)" "podman image ID is the config digest"

log "--cache-max-size: the state dir stays under the bound, least recently used first"
S="$WORK/bounded"
for i in 1 2 3 4; do
  mkdir -p "$WORK/lru$i"
  head -c 307200 /dev/urandom >"$WORK/lru$i/blob.bin"
  printf 'FROM %s\nCOPY blob.bin /blob.bin\nRUN echo %s > /n.txt\n' "$BASE" "$i" >"$WORK/lru$i/Dockerfile"
done
build lru1 --state "$S" --cache-max-size 0 >/dev/null
ONE=$(state_usage "$S")
# Room for one build's layers (base + ~600 KB), not for two.
BOUND=$((ONE + 200 * 1024))
log "one build takes $ONE bytes; bound $BOUND"
for i in 2 3 4; do
  build "lru$i" --state "$S" --cache-max-size "$((BOUND / 1024))K" >/dev/null
  USED=$(state_usage "$S")
  [ "$USED" -le "$BOUND" ] || fail "after lru$i the state takes $USED bytes, more than $BOUND"
  ok "after lru$i: $USED <= $BOUND bytes"
  assert_contains "$(cat "$WORK/lru$i.log")" "cache: pruned" "lru$i log"
done
build lru4 --state "$S" --cache-max-size "$((BOUND / 1024))K" >/dev/null
assert_eq 2 "$(grep -c CACHED "$WORK/lru4.log")" "most recent build still cached"
build lru2 --state "$S" --cache-max-size "$((BOUND / 1024))K" >/dev/null
assert_eq 0 "$(grep -c CACHED "$WORK/lru2.log" || true)" "pruned build runs again"
USED=$(state_usage "$S")
[ "$USED" -le "$BOUND" ] || fail "after rebuilding lru2 the state takes $USED bytes"
ok "after rebuilding lru2: $USED <= $BOUND bytes"
build lru2 --state "$S" --cache-max-size "$((BOUND / 1024))K" >/dev/null
assert_eq 2 "$(grep -c CACHED "$WORK/lru2.log")" "rebuilt build is cached again"

log "no prune while another build holds the state dir"
exec 7>"$S/lock"
flock -s 7
build lru3 --state "$S" --cache-max-size "$((BOUND / 1024))K" 7>&- >/dev/null
assert_contains "$(cat "$WORK/lru3.log")" "not pruning now" "lru3 log with another build running"
[ "$(state_usage "$S")" -gt "$BOUND" ] || fail "the state was pruned while another build held it"
ok "nothing pruned while another build held the lock"
flock -u 7
exec 7>&-
build lru3 --state "$S" --cache-max-size "$((BOUND / 1024))K" >/dev/null
USED=$(state_usage "$S")
[ "$USED" -le "$BOUND" ] || fail "after the other build finished the state takes $USED bytes"
ok "pruned by the next build: $USED <= $BOUND bytes"
if "$DRYDOCK_BIN" build --local --state "$S" --cache-max-size 10X "$WORK/lru3" >/dev/null 2>&1; then
  fail "--cache-max-size 10X accepted"
fi
ok "--cache-max-size 10X refused"

log "--cache-to / --cache-from: a fresh state dir reuses a cache from the registry"
mkdir -p "$WORK/shared"
echo "shared content" >"$WORK/shared/file.txt"
cat >"$WORK/shared/Dockerfile" <<DOCKERFILE
FROM $BASE AS tool
RUN echo tool > /tool && echo other > /other
FROM $BASE
COPY file.txt /app/file.txt
RUN echo "built at \$(date +%s%N)" > /stamp
WORKDIR /work
ENV MODE=shared
RUN echo "\$MODE" > mode.txt
COPY --from=tool /tool /tool
DOCKERFILE
DA=$(build shared --state "$WORK/state-a" -t "$REG/test/shared:a" --push --cache-to "$REG/cache/shared:1")
assert_contains "$(cat "$WORK/shared.log")" "exported" "build A log"
CACHE_MAN=$(raw_manifest cache/shared:1)
assert_eq "application/vnd.drydock.build.cache.v1+json" "$(jq -r .config.mediaType <<<"$CACHE_MAN")" "cache image config type"
assert_eq 6 "$(jq '.layers | length' <<<"$CACHE_MAN")" "layers in the cache image"
req GET "/v2/cache/shared/blobs/$(jq -r .config.digest <<<"$CACHE_MAN")" "${ADMIN[@]}"
assert_eq 6 "$(jq '.records | length' <<<"$LAST_BODY")" "records in the cache image (one per layer step)"
DB=$(build shared --state "$WORK/state-b" -t "$REG/test/shared:b" --push --cache-from "$REG/cache/nothere:1" \
  --cache-from "$REG/cache/shared:1")
assert_contains "$(cat "$WORK/shared.log")" "warning: --cache-from $REG/cache/nothere:1" "a missing cache image is a warning"
assert_eq 6 "$(grep -c CACHED "$WORK/shared.log")" "cached layer steps in the fresh state dir"
assert_eq "$DA" "$DB" "digest built from the imported cache"
rootfs test/shared:b "$WORK/shared-fs"
assert_eq "shared content" "$(cat "$WORK/shared-fs/app/file.txt")" "imported COPY layer"
assert_eq "shared" "$(cat "$WORK/shared-fs/work/mode.txt")" "imported RUN layer"
assert_eq "tool" "$(cat "$WORK/shared-fs/tool")" "imported COPY --from layer"
# The imported records are now local: a third build needs no registry cache.
DC=$(build shared --state "$WORK/state-b")
assert_eq "$DA" "$DC" "digest from the records written locally on import"
assert_eq 6 "$(grep -c CACHED "$WORK/shared.log")" "cached steps without --cache-from"

stop_server
echo "build_cache: $CHECKS checks passed"
