#!/usr/bin/env bash
# make-oci-layout.sh [-s PAYLOAD_BYTES] DIR...
#
# Writes a tiny, unique, single-layer OCI image layout tagged "latest" into
# each DIR (which must not exist yet), built by hand with tar, gzip and
# sha256sum:
#   DIR/oci-layout, DIR/index.json, DIR/blobs/sha256/<manifest|config|layer>
# The layer holds PAYLOAD_BYTES (default 16384) of random data plus a small
# text file, so every image has distinct digests. Prints one line per image:
# "DIR MANIFEST_DIGEST".
#
# JSON is written with printf rather than jq and small digests are computed
# from strings, because process start-up dominates the cost of making 200 of
# these (about 10 ms per process on the benchmark VM).
set -euo pipefail

bytes=16384
if [[ ${1:-} == -s ]]; then
  bytes=$2
  shift 2
fi
[[ $# -gt 0 ]] || { echo "usage: make-oci-layout.sh [-s PAYLOAD_BYTES] DIR..." >&2; exit 2; }

# sha256 of a string, as a bare hex digest.
sha_of() {
  local out
  read -r out _ < <(printf '%s' "$1" | sha256sum)
  printf '%s' "$out"
}

for dir in "$@"; do
  [[ ! -e $dir ]] || { echo "make-oci-layout: $dir already exists" >&2; exit 1; }
  blobs=$dir/blobs/sha256
  work=$dir/.work
  mkdir -p "$blobs" "$work/rootfs"

  head -c "$bytes" /dev/urandom >"$work/rootfs/payload"
  printf 'drydock benchmark image %s\n' "$dir" >"$work/rootfs/hello.txt"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
  read -r diff_hex _ < <(sha256sum "$work/layer.tar")
  gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
  read -r layer_hex _ < <(sha256sum "$work/layer.tar.gz")
  read -r layer_size < <(stat -c %s "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$blobs/$layer_hex"

  config=$(printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_hex")
  config_hex=$(sha_of "$config")
  printf '%s' "$config" >"$blobs/$config_hex"

  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$config_hex" "${#config}" "$layer_hex" "$layer_size")
  manifest_hex=$(sha_of "$manifest")
  printf '%s' "$manifest" >"$blobs/$manifest_hex"

  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}\n' \
    "$manifest_hex" "${#manifest}" >"$dir/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  rm -r "$work"
  echo "$dir sha256:$manifest_hex"
done
