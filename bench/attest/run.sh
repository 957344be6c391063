#!/usr/bin/env bash
# Supply chain costs (issue 17), two numbers:
#  1. What SBOM + provenance + signature add to a build: an app on a Debian
#     12 minbase base (debootstrap, ~88 packages) built with
#     `drydock build --local --no-cache --push`, ROUNDS times (default 5)
#     without and with `--sbom --provenance --sign-key`, alternating; medians.
#     Target: the difference under 5 % of the build or under 300 ms.
#  2. `drydock image which-contain` over SBOMS stored SBOMs (default 1000,
#     each that app's real SBOM with its own namespace, referring to its own
#     image): latency of a package every image has, of one version, and of a
#     package no image has; against what a registry without an index makes
#     a user do (for each image: list its referrers, get the SBOM's manifest
#     and blob, look for the package), timed on the same images.
#
#   bench/attest/run.sh [--rounds N] [--sboms N] [--keep]
#
# Needs root (runc builds) and debootstrap (or the tests' cached tarball).
set -euo pipefail
shopt -s inherit_errexit
ROUNDS=5 SBOMS=1000 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --sboms) SBOMS=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: bench/attest/run.sh [--rounds N] [--sboms N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_workdir attest
bench_serve "$WORK/data" "builds: {allow_private_fetches: true}"
"$BIN" login "$REG" -u admin -p "$PASS" >/dev/null 2>&1
AUTH=(-u "admin:$PASS")

log "Debian 12 minbase base"
CACHE=${DRYDOCK_TEST_CACHE:-/var/cache/drydock-tests}
TARBALL=$CACHE/debian-bookworm-minbase.tar
if [[ ! -f $TARBALL ]]; then
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
  debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1
  tar --sort=name --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' -cf "$TARBALL" -C "$root" .
  rm -rf "$root"
fi
mkdir -p "$WORK/base"
cp "$TARBALL" "$WORK/base/rootfs.tar"
printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$WORK/base/Dockerfile"
"$BIN" build --local --state "$WORK/state" -t "$REG/base/debian:12" --push "$WORK/base" >/dev/null 2>"$WORK/base.log" ||
  { tail -n 20 "$WORK/base.log" >&2; exit 1; }

log "the app: $ROUNDS builds without attestations, $ROUNDS with, alternating"
mkdir -p "$WORK/app"
head -c 1048576 /dev/urandom >"$WORK/app/app.bin"
printf 'FROM %s/base/debian:12\nRUN echo built > /built && dpkg-query -W > /packages.txt\nCOPY app.bin /app/app.bin\n' \
  "$REG" >"$WORK/app/Dockerfile"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$WORK/sign.key"
plain=() attested=()
for i in $(seq "$ROUNDS"); do
  plain+=("$(seconds "$BIN" build --local --no-cache --state "$WORK/state" -t "$REG/bench/plain:$i" --push "$WORK/app")")
  attested+=("$(seconds "$BIN" build --local --no-cache --state "$WORK/state" -t "$REG/bench/app:$i" --push \
    --sbom --provenance --sign-key "$WORK/sign.key" "$WORK/app")")
done
P=$(printf '%s\n' "${plain[@]}" | median)
A=$(printf '%s\n' "${attested[@]}" | median)
echo "build without attestations: ${plain[*]} s (median $P s)"
echo "build with SBOM + provenance + signature: ${attested[*]} s (median $A s)"
awk -v p="$P" -v a="$A" 'BEGIN { printf "added: %.0f ms, %.1f %% of the build (target: < 300 ms or < 5 %%)\n", (a - p) * 1000, (a - p) / p * 100 }'

log "$SBOMS images, each with its own SBOM (the app's, namespace changed)"
"$BIN" image sbom "$REG/bench/app:1" --insecure-registry "$REG" >"$WORK/sbom.json"
PACKAGES=$(jq '[.packages[] | select(.primaryPackagePurpose != "CONTAINER")] | length' "$WORK/sbom.json")
LIBC=$(jq -r '.packages[] | select(.name == "libc6") | .versionInfo' "$WORK/sbom.json")
upload() {  # upload REPO FILE: prints its digest
  local d
  d="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
  local loc
  loc=$(curl -sS "${AUTH[@]}" -X POST -D - -o /dev/null "http://$REG/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  curl -sSf "${AUTH[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "http://$REG$loc?digest=$d" >/dev/null
  echo "$d"
}
printf '{}' >"$WORK/empty.json"
echo layer >"$WORK/layer"
EMPTY=$(upload fleet/app "$WORK/empty.json")
LAYER=$(upload fleet/app "$WORK/layer")
IMAGE_TYPE=application/vnd.oci.image.manifest.v1+json
for i in $(seq "$SBOMS"); do
  jq -cn --arg e "$EMPTY" --arg l "$LAYER" --arg i "$i" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $e, size: 2},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: 6}],
    annotations: {n: $i}}' >"$WORK/image.json"
  curl -sSf "${AUTH[@]}" -X PUT -H "Content-Type: $IMAGE_TYPE" --data-binary "@$WORK/image.json" \
    "http://$REG/v2/fleet/app/manifests/v$i" >/dev/null
  img="sha256:$(sha256sum "$WORK/image.json" | cut -d' ' -f1)"
  jq -c --arg n "https://bench/$i" '.documentNamespace = $n' "$WORK/sbom.json" >"$WORK/sbom-i.json"
  doc=$(upload fleet/app "$WORK/sbom-i.json")
  jq -cn --arg e "$EMPTY" --arg d "$doc" --argjson s "$(stat -c %s "$WORK/sbom-i.json")" --arg img "$img" \
    --argjson is "$(stat -c %s "$WORK/image.json")" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/spdx+json",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
    layers: [{mediaType: "application/spdx+json", digest: $d, size: $s}],
    subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $img, size: $is}}' >"$WORK/art.json"
  curl -sSf "${AUTH[@]}" -X PUT -H "Content-Type: $IMAGE_TYPE" --data-binary "@$WORK/art.json" \
    "http://$REG/v2/fleet/app/manifests/sha256:$(sha256sum "$WORK/art.json" | cut -d' ' -f1)" >/dev/null
  echo "$img" >>"$WORK/images"
done

log "which-contain, 5 times each"
query() {
  local t=()
  for _ in 1 2 3 4 5; do t+=("$(seconds "$BIN" image which-contain "$1" -o json)"); done
  local n
  n=$(jq '[.[] | select(.repository == "fleet/app")] | length' "$WORK/last.out")
  echo "which-contain $1: ${t[*]} s (median $(printf '%s\n' "${t[@]}" | median) s), $n of the $SBOMS images"
}
query libc6
query "libc6@$LIBC"
query no-such-package
api_ms() {
  curl -s -o /dev/null -w '%{time_total}' "${AUTH[@]}" "http://$REG/api/v1/images/packages?name=$1" |
    awk '{ printf "%.1f", $1 * 1000 }'
}
echo "GET /api/v1/images/packages?name=libc6 alone (no client start): $(api_ms libc6) ms"

log "without an index: every image's referrers, SBOM manifest and blob"
scan() {
  local n=0 img refs sbom blob
  while read -r img; do
    refs=$(curl -sS "${AUTH[@]}" "http://$REG/v2/fleet/app/referrers/$img?artifactType=application/spdx%2Bjson")
    sbom=$(jq -r '.manifests[0].digest' <<<"$refs")
    blob=$(curl -sS "${AUTH[@]}" -H "Accept: $IMAGE_TYPE" "http://$REG/v2/fleet/app/manifests/$sbom" | jq -r '.layers[0].digest')
    curl -sS "${AUTH[@]}" "http://$REG/v2/fleet/app/blobs/$blob" | jq -e '.packages[] | select(.name == "libc6")' >/dev/null && n=$((n + 1))
  done <"$WORK/images"
  echo "$n" >"$WORK/scan.count"
}
T=$(seconds scan)
echo "scan of $SBOMS SBOMs for libc6: $T s, found in $(cat "$WORK/scan.count")"
echo "SBOMs: $PACKAGES packages each"
