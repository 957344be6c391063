#!/usr/bin/env bash
# make-oci-layout.sh DIR [PAYLOAD_BYTES]
#
# Writes a tiny, unique, single-layer OCI image layout into DIR (which must not
# exist), tagged "latest", built by hand with tar, gzip, sha256sum and jq:
#   DIR/oci-layout, DIR/index.json, DIR/blobs/sha256/{manifest,config,layer}
# The layer holds PAYLOAD_BYTES (default 16384) of random data plus a small
# text file, so every call yields distinct digests. Prints the manifest digest.
set -euo pipefail

dir=${1:?usage: make-oci-layout.sh DIR [PAYLOAD_BYTES]}
bytes=${2:-16384}
[[ ! -e $dir ]] || { echo "make-oci-layout: $dir already exists" >&2; exit 1; }
mkdir -p "$dir/blobs/sha256" "$dir/.work/rootfs"
work=$dir/.work

head -c "$bytes" /dev/urandom >"$work/rootfs/payload"
printf 'drydock benchmark image %s\n' "$(basename "$dir")" >"$work/rootfs/hello.txt"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum <"$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"

# Moves FILE into the blob directory under its digest; prints "DIGEST SIZE".
add_blob() {
  local hex size
  hex=$(sha256sum <"$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$dir/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

read -r layer_digest layer_size < <(add_blob "$work/layer.tar.gz")

jq -cn --arg diff "$diff_id" '{
  architecture: "amd64", os: "linux",
  config: {Cmd: ["/hello.txt"]},
  rootfs: {type: "layers", diff_ids: [$diff]}
}' | tr -d '\n' >"$work/config.json"
read -r config_digest config_size < <(add_blob "$work/config.json")

jq -cn --arg cd "$config_digest" --argjson cs "$config_size" \
  --arg ld "$layer_digest" --argjson ls "$layer_size" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
}' | tr -d '\n' >"$work/manifest.json"
read -r manifest_digest manifest_size < <(add_blob "$work/manifest.json")

jq -cn --arg md "$manifest_digest" --argjson ms "$manifest_size" '{
  schemaVersion: 2,
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
               annotations: {"org.opencontainers.image.ref.name": "latest"}}]
}' >"$dir/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
rm -rf "$work"
echo "$manifest_digest"
