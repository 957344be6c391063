#!/usr/bin/env bash
# Multi-platform images (issue 18): a base image index of a real amd64 and a
# real arm64 busybox (Debian's busybox-static and busybox-static:arm64); a
# `--platform linux/amd64,linux/arm64` build pushes one index whose arm64
# image ran its RUN under QEMU user-mode emulation (binfmt_misc, F flag):
# `uname -m` says x86_64 and aarch64. skopeo shows the index, podman pulls
# the arm64 image by --arch, TARGETARCH picks what COPY copies, a stage FROM
# --platform=$BUILDPLATFORM runs natively, layers the platforms share are
# stored once, an oci: layout holds the index (with every blob it refers to)
# and docker-archive is refused;
# a platform nothing can run fails before anything is pulled, saying what to
# install; a quick build and a task build both platforms on the server,
# each platform's image with its own SBOM, provenance and signature, also
# in Docker's attestation layout (issue 17), which podman passes over. A
# base index whose arm64 image alone changes rebuilds the tasks that build
# for arm64 (the two-platform one and an arm64 one), not an amd64-only one,
# and `image dependents` shows each platform up to date again. Agents of a
# pool building one platform each natively get a part each of a split run
# (its index signed by the server); a failing part fails the run and
# cancels the other.
. "$(dirname "$0")/lib.sh"

log "QEMU for arm64, registered with binfmt_misc (F flag)"
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/status" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" || fail "cannot mount $BINFMT"
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
  [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ] || fail "qemu-user-static is not installed (scripts/install-deps.sh)"
  grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register" || fail "cannot register qemu-aarch64"
fi
grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" ||
  fail "qemu-aarch64 is registered without the F flag: $(grep '^flags' "$BINFMT/qemu-aarch64")"
ok "qemu-aarch64 is registered with the F flag"

log "a base index: amd64 and arm64 busybox"
DEB=$(ls /var/cache/drydock-tests/busybox-static_*_arm64.deb 2>/dev/null | head -n1)
[ -n "$DEB" ] || fail "no busybox-static arm64 package in /var/cache/drydock-tests (scripts/install-deps.sh)"
start_server
client_login
use_build_env
ARM_ROOT="$WORK/arm-root"
mkdir -p "$ARM_ROOT/bin" "$ARM_ROOT/etc" "$ARM_ROOT/tmp"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./bin/busybox >"$ARM_ROOT/bin/busybox"
chmod 755 "$ARM_ROOT/bin/busybox"
for tool in sh echo cat ls uname mkdir; do ln -s busybox "$ARM_ROOT/bin/$tool"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$ARM_ROOT/etc/passwd"
push_rootfs base/busybox:arm64 "$ARM_ROOT" arm64
make_busybox_layout "$WORK/layouts/amd" 1 >/dev/null
push_layout "$WORK/layouts/amd" 1 base/busybox:amd64
# index_of REPO:TAG (platform image tags) ...: an index manifest of them.
index_of() {
  local entries="[]" t arch digest size
  for t in "$@"; do
    arch=${t##*:}
    skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/$t" >"$WORK/.m"
    digest="sha256:$(sha256_of "$WORK/.m")"
    size=$(stat -c %s "$WORK/.m")
    entries=$(jq -c --arg d "$digest" --argjson s "$size" --arg a "$arch" \
      '. + [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
             platform: {architecture: $a, os: "linux"}}]' <<<"$entries")
  done
  jq -cn --argjson m "$entries" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: $m}'
}
index_of base/busybox:amd64 base/busybox:arm64 >"$WORK/base-index.json"
put_manifest base/busybox multi "$WORK/base-index.json" application/vnd.oci.image.index.v1+json
assert_status 201 "$STATUS" "the base index is pushed"

log "--platform linux/amd64,linux/arm64: one index, RUN under emulation for arm64"
mkdir -p "$WORK/ctx/app/files/amd64" "$WORK/ctx/app/files/arm64"
echo "for amd64" >"$WORK/ctx/app/files/amd64/payload"
echo "for arm64" >"$WORK/ctx/app/files/arm64/payload"
echo shared >"$WORK/ctx/app/shared.txt"
dockerfile "$WORK/ctx/app/Dockerfile" <<'EOF'
FROM --platform=$BUILDPLATFORM @REG@/base/busybox:multi AS tools
ARG TARGETARCH
ARG BUILDPLATFORM
RUN uname -m >/built-on && echo "$TARGETARCH from $BUILDPLATFORM" >/cross
FROM @REG@/base/busybox:multi
ARG TARGETARCH
ARG TARGETPLATFORM
COPY shared.txt /shared.txt
COPY files/$TARGETARCH/payload /payload
COPY --from=tools /built-on /cross /
RUN uname -m >/arch && echo "$TARGETPLATFORM" >/platform
EOF
build ctx/app --platform linux/amd64,linux/arm64 -t "$REG/mp/app:1" --push >/dev/null
assert_contains "$(cat "$WORK/ctx/app.log")" "[linux/arm64] " "the log names each platform's lines"
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/app:1" >"$WORK/index.json"
assert_eq "application/vnd.oci.image.index.v1+json" "$(jq -r .mediaType "$WORK/index.json")" "mp/app:1 is an OCI index"
assert_eq "linux/amd64 linux/arm64" "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$WORK/index.json")" \
  "one entry per platform, in order"
# image_file ARCH PATH [IMAGE]: a file of IMAGE's (mp/app:1's) image for ARCH.
image_file() {
  local dir="$WORK/pull-$1"
  rm -rf "$dir" "$dir.oci"
  skopeo copy -q --override-arch "$1" --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" \
    "docker://$REG/${3:-mp/app:1}" "oci:$dir.oci:x" >/dev/null || fail "skopeo copy --override-arch $1"
  mkdir -p "$dir"
  local manifest
  manifest=$(layout_blob "$dir.oci" "$(layout_digest "$dir.oci" x)")
  for layer in $(jq -r '.layers[].digest' "$manifest"); do tar -xzf "$(layout_blob "$dir.oci" "$layer")" -C "$dir"; done
  cat "$dir/$2"
}
assert_eq x86_64 "$(image_file amd64 arch)" "RUN uname -m in the amd64 image"
assert_eq aarch64 "$(image_file arm64 arch)" "RUN uname -m in the arm64 image: emulated"
assert_eq linux/arm64 "$(image_file arm64 platform)" "TARGETPLATFORM in the arm64 image"
assert_eq "for arm64" "$(image_file arm64 payload)" "COPY files/\$TARGETARCH picks arm64's"
assert_eq "for amd64" "$(image_file amd64 payload)" "and amd64's"
assert_eq x86_64 "$(image_file arm64 built-on)" "a FROM --platform=\$BUILDPLATFORM stage runs natively"
assert_eq "arm64 from linux/amd64" "$(image_file arm64 cross)" "and knows its target"
AMD=$(jq -r '.manifests[0].digest' "$WORK/index.json")
ARM=$(jq -r '.manifests[1].digest' "$WORK/index.json")
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/app@$AMD" >"$WORK/amd.json"
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/app@$ARM" >"$WORK/arm.json"
assert_eq "$(jq -r '.layers[-4].digest' "$WORK/amd.json")" "$(jq -r '.layers[-4].digest' "$WORK/arm.json")" \
  "COPY of the same file: one layer blob shared by both platforms"
assert_eq arm64 "$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/app@$ARM" |
  jq -r .config.digest | xargs -I{} curl -sS "${ADMIN[@]}" "$URL/v2/mp/app/blobs/{}" | jq -r .architecture)" \
  "the arm64 image's config says arm64"

log "podman pull --arch arm64 gets the arm64 image"
podman pull -q --tls-verify=false --creds "admin:$ADMIN_PASS" --arch arm64 "$REG/mp/app:1" >"$WORK/podman.out" 2>"$WORK/podman.err" ||
  { cat "$WORK/podman.err" >&2; fail "podman pull --arch arm64"; }
assert_eq "$(jq -r '.config.digest | ltrimstr("sha256:")' "$WORK/arm.json")" \
  "$(podman image inspect --format '{{.Id}}' "$REG/mp/app:1")" "podman has the arm64 image (its config's id)"
assert_eq arm64 "$(podman image inspect --format '{{.Architecture}}' "$REG/mp/app:1")" "of architecture arm64"
podman rmi -f "$REG/mp/app:1" >/dev/null 2>&1 || true

log "outputs: an oci: layout holds the index, docker-archive is refused"
build ctx/app --platform linux/amd64,linux/arm64 -t "$REG/mp/layout:1" --output "oci:$WORK/out-layout" \
  --push --sbom --provenance >/dev/null
INDEX=$(jq -r '.manifests[0].digest' "$WORK/out-layout/index.json")
assert_eq "application/vnd.oci.image.index.v1+json" "$(jq -r '.manifests[0].mediaType' "$WORK/out-layout/index.json")" \
  "the layout's tag names an index"
assert_eq "linux/amd64 linux/arm64 unknown/unknown unknown/unknown" \
  "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$WORK/out-layout/blobs/sha256/${INDEX#sha256:}")" \
  "of both platforms, and Docker's attestation manifest of each"
skopeo copy -q --override-arch arm64 "oci:$WORK/out-layout:1" "oci:$WORK/out-arm:x" >/dev/null ||
  fail "skopeo reads the layout's arm64 image"
ok "skopeo reads the layout's arm64 image"
skopeo copy -q --all "oci:$WORK/out-layout:1" "oci:$WORK/out-all:x" >/dev/null ||
  fail "skopeo copy --all of the layout: a blob the index refers to is missing"
ok "the layout holds every blob its index refers to (skopeo copy --all)"
expect_build_failure ctx/app "docker-archive output holds one platform's image" \
  --platform linux/amd64,linux/arm64 -t mp/app:1 --output "docker-archive:$WORK/app.tar"

log "a platform nothing here can run fails first, saying what to install"
expect_build_failure ctx/app "needs QEMU user-mode emulation" --platform linux/wasm -t mp/app:2 --push
assert_contains "$(cat "$WORK/ctx/app.log")" "qemu-user-static" "it names the package"
assert_not_contains "$(cat "$WORK/ctx/app.log")" "FROM" "before any stage starts"
expect_build_failure ctx/app "linux/wasm: line 11: RUN: RUN for linux/wasm needs QEMU" \
  --platform linux/amd64,linux/wasm -t mp/app:2 --push
expect_build_failure ctx/app "platform 'linux' is not os/architecture" --platform linux -t mp/app:2

log "a quick build and a task for both platforms, on the server"
drydock build "$WORK/ctx/app" --platform linux/amd64,linux/arm64 -t mp/quick:1 >"$WORK/quick.out" 2>&1 ||
  { tail -n 30 "$WORK/quick.out" >&2; fail "quick build of two platforms"; }
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/quick:1" >"$WORK/quick-index.json"
assert_eq "linux/amd64 linux/arm64 unknown/unknown unknown/unknown" \
  "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$WORK/quick-index.json")" \
  "the quick build pushed an index of both, and Docker's attestation manifest of each"
RUN=$(drydock run list --top 1 -o json | jq -r '.[0].runId')
assert_eq "linux/amd64,linux/arm64" "$(run_field "$RUN" '.platforms | join(",")')" "the run records its platforms"
drydock verify "$REG/mp/quick:1" --key "$DATA/signing-key.pub" --insecure-registry "$REG" >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out" >&2; fail "the quick build's index does not verify"; }
ok "the index is signed by the server"
QARM=$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/quick:1" | jq -r '.manifests[1].digest')
drydock verify "$REG/mp/quick@$QARM" --key "$DATA/signing-key.pub" --require-sbom --require-provenance \
  --insecure-registry "$REG" >"$WORK/verify-arm.out" 2>&1 || { cat "$WORK/verify-arm.out" >&2; fail "the arm64 image does not verify"; }
assert_eq 3 "$(grep -c '^ok ' "$WORK/verify-arm.out")" "the arm64 image has its own SBOM, provenance and signature"
drydock image provenance "$REG/mp/quick@$QARM" --insecure-registry "$REG" >"$WORK/prov-arm.json" || fail "provenance of the arm64 image"
assert_eq linux/arm64 "$(jq -r .predicate.buildDefinition.externalParameters.platform "$WORK/prov-arm.json")" \
  "its provenance names its platform"

log "Docker's attestation layout (BuildKit's, read by buildx imagetools and Scout), beside the referrers"
assert_eq "attestation-manifest $QARM" \
  "$(jq -r --arg d "$QARM" '.manifests[] | select(.annotations["vnd.docker.reference.digest"] == $d) |
     "\(.annotations["vnd.docker.reference.type"]) \(.annotations["vnd.docker.reference.digest"])"' "$WORK/quick-index.json")" \
  "an attestation-manifest entry names the arm64 image"
QATT=$(jq -r --arg d "$QARM" '.manifests[] | select(.annotations["vnd.docker.reference.digest"] == $d) | .digest' "$WORK/quick-index.json")
skopeo copy -q --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" "docker://$REG/mp/quick@$QATT" "oci:$WORK/att:x" >/dev/null ||
  fail "skopeo copies the attestation manifest"
ATT_MANIFEST="$WORK/att/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$WORK/att/index.json")"
assert_eq "unknown/unknown" "$(jq -r '"\(.os)/\(.architecture)"' "$WORK/att/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$ATT_MANIFEST")")" \
  "its config is an image config for unknown/unknown"
assert_eq "https://spdx.dev/Document https://slsa.dev/provenance/v1" \
  "$(jq -r '[.layers[] | select(.mediaType == "application/vnd.in-toto+json") | .annotations["in-toto.io/predicate-type"]] | join(" ")' "$ATT_MANIFEST")" \
  "its layers are in-toto statements: the SBOM, the provenance"
att_layer() { echo "$WORK/att/blobs/sha256/$(jq -r ".layers[$1].digest | ltrimstr(\"sha256:\")" "$ATT_MANIFEST")"; }
assert_eq "${QARM#sha256:}" "$(jq -r '.subject[0].digest.sha256' "$(att_layer 0)")" "the SBOM statement's subject is the arm64 image"
drydock image sbom "$REG/mp/quick@$QARM" --insecure-registry "$REG" >"$WORK/sbom-arm.json" || fail "SBOM of the arm64 image"
assert_eq "$(jq -S . "$WORK/sbom-arm.json")" "$(jq -S .predicate "$(att_layer 0)")" "its predicate is the SBOM the referrers API gives"
assert_eq "$(jq -S . "$WORK/prov-arm.json")" "$(jq -S . "$(att_layer 1)")" "the provenance is the referrers API's"
podman pull -q --tls-verify=false --creds "admin:$ADMIN_PASS" --arch arm64 "$REG/mp/quick:1" >/dev/null ||
  fail "podman pull --arch arm64 of an index with attestation manifests"
assert_eq "$(jq -r '.config.digest | ltrimstr("sha256:")' <(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/quick@$QARM"))" \
  "$(podman image inspect --format '{{.Id}}' "$REG/mp/quick:1")" "podman passes over the attestation manifests"
podman rmi -f "$REG/mp/quick:1" >/dev/null 2>&1 || true
serve_www
tar -czf "$WORK/www/app.tar.gz" -C "$WORK/ctx/app" .
drydock task create -n mp -c "$WWW_URL/app.tar.gz" -t mp/task:1 --platform linux/amd64,linux/arm64 \
  >"$WORK/task.out" 2>&1 || { cat "$WORK/task.out" >&2; fail "task create --platform a,b"; }
drydock task run -n mp >"$WORK/taskrun.out" 2>&1 || { tail -n 30 "$WORK/taskrun.out" >&2; fail "task run mp"; }
assert_eq 2 "$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/task:1" |
  jq '[.manifests[] | select(.platform.os == "linux")] | length')" "the task pushed an index of two images"

log "base-image triggers per platform: only the arm64 entry of the base changes"
for p in amd64 arm64; do
  drydock task create -n "mp-$p" -c "$WWW_URL/app.tar.gz" -t "mp/$p:1" --platform "linux/$p" \
    >"$WORK/task-$p.out" 2>&1 || { cat "$WORK/task-$p.out" >&2; fail "task create mp-$p"; }
  drydock task run -n "mp-$p" >"$WORK/taskrun-$p.out" 2>&1 || { tail -n 30 "$WORK/taskrun-$p.out" >&2; fail "task run mp-$p"; }
done
assert_eq "linux/amd64 linux/arm64" \
  "$(drydock image dependents "$REG/base/busybox:multi" -o json | jq -r '[.[] | select(.task == "mp" and .type == "Runtime") | .platform] | join(" ")')" \
  "image dependents shows a row per platform the two-platform task built"
echo "patched" >"$ARM_ROOT/etc/patched"
push_rootfs base/busybox:arm64 "$ARM_ROOT" arm64
index_of base/busybox:amd64 base/busybox:arm64 >"$WORK/base-index2.json"
assert_eq "$(jq -c '.manifests[0]' "$WORK/base-index.json")" "$(jq -c '.manifests[0]' "$WORK/base-index2.json")" \
  "the new base index has the same amd64 image"
put_manifest base/busybox multi "$WORK/base-index2.json" application/vnd.oci.image.index.v1+json
assert_status 201 "$STATUS" "the base index with a new arm64 image is pushed"
wait_count mp-arm64 2 30
wait_count mp 2 30
wait_idle 180
all_succeeded mp-arm64
all_succeeded mp
assert_eq 1 "$(run_count mp-amd64)" "the amd64-only task was not triggered by the same push"
assert_eq "Image Update" "$(run_field "$(newest_run mp-arm64)" .trigger)" "the arm64 task's run was an image update"
assert_eq "mp linux/amd64 true, mp linux/arm64 true, mp-amd64 linux/amd64 true, mp-arm64 linux/arm64 true" \
  "$(drydock image dependents "$REG/base/busybox:multi" -o json |
     jq -r '[.[] | select(.type == "Runtime") | "\(.task) \(.platform) \(.upToDate)"] | join(", ")')" \
  "image dependents: each task is up to date again, per platform"
log "agents of a pool building one platform each natively: the run is split into a part per platform"
agent_token amd
agent_token arm
start_agent amd --pool split --platform linux/amd64 --emulate linux/arm64
start_agent arm --pool split --platform linux/arm64
for _ in $(seq 1 60); do
  [ "$(drydock agent list -o json | jq '[.[] | select(.pool == "split")] | length')" = 2 ] && break
  sleep 0.5
done
assert_eq 2 "$(drydock agent list -o json | jq '[.[] | select(.pool == "split")] | length')" "both agents called in"
drydock build "$WORK/ctx/app" --platform linux/amd64,linux/arm64 -t mp/split:1 --agent-pool split \
  >"$WORK/split.out" 2>&1 || { tail -n 30 "$WORK/split.out" >&2; fail "a split quick build"; }
SPLIT=$(drydock run list --top 5 -o json | jq -r '[.[] | select(.parts)][0].runId')
assert_eq "linux/amd64 linux/arm64" "$(run_field "$SPLIT" '[.parts[].platform] | join(" ")')" "the run has a part per platform"
part_of() { run_field "$1" ".parts[] | select(.platform == \"$2\") | .runId"; }
SPLIT_AMD=$(part_of "$SPLIT" linux/amd64)
SPLIT_ARM=$(part_of "$SPLIT" linux/arm64)
assert_eq "amd Succeeded $SPLIT" "$(run_field "$SPLIT_AMD" '"\(.agent) \(.status) \(.partOf)"')" \
  "the amd64 part ran on the agent building amd64 natively"
assert_eq "arm Succeeded $SPLIT" "$(run_field "$SPLIT_ARM" '"\(.agent) \(.status) \(.partOf)"')" \
  "the arm64 part ran on the agent building arm64 natively, not on the one emulating it"
assert_contains "$(cat "$WORK/split.out")" "[linux/arm64] " "following the run shows each part's log"
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/mp/split:1" >"$WORK/split-index.json"
assert_eq "linux/amd64=$(run_field "$SPLIT_AMD" '.outputImages[0].digest') linux/arm64=$(run_field "$SPLIT_ARM" '.outputImages[0].digest')" \
  "$(jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture)=\(.digest)"] | join(" ")' "$WORK/split-index.json")" \
  "mp/split:1 is the index of the images the parts pushed"
assert_eq "sha256:$(sha256_of "$WORK/split-index.json")" "$(run_field "$SPLIT" '.outputImages[0].digest')" \
  "the run's output image is the index"
assert_eq aarch64 "$(image_file arm64 arch mp/split:1)" "RUN uname -m in the split arm64 image"
assert_eq x86_64 "$(image_file amd64 arch mp/split:1)" "and in the amd64 one"
drydock verify "$REG/mp/split:1" --key "$DATA/signing-key.pub" --insecure-registry "$REG" >"$WORK/verify-split.out" 2>&1 ||
  { cat "$WORK/verify-split.out" >&2; fail "the split run's index does not verify"; }
ok "the split run's index is signed by the server"
SPLIT_ARM_IMAGE=$(jq -r '.manifests[1].digest' "$WORK/split-index.json")
drydock verify "$REG/mp/split@$SPLIT_ARM_IMAGE" --key "$DATA/signing-key.pub" --require-sbom --require-provenance \
  --insecure-registry "$REG" >"$WORK/verify-split-arm.out" 2>&1 ||
  { cat "$WORK/verify-split-arm.out" >&2; fail "the arm64 part's image does not verify"; }
ok "the arm64 part's image has its SBOM, provenance and signature"

log "a part failing fails the split run, naming it, and cancels the other part"
mkdir -p "$WORK/ctx/armfail"
dockerfile "$WORK/ctx/armfail/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:multi
RUN if [ "$(uname -m)" = x86_64 ]; then sleep 60; else echo "no arm64 here"; exit 3; fi
EOF
START=$(date +%s)
drydock build "$WORK/ctx/armfail" --platform linux/amd64,linux/arm64 -t mp/armfail:1 --agent-pool split \
  >"$WORK/armfail.out" 2>&1 && fail "the build whose arm64 part fails succeeded"
FAILED=$(drydock run list --top 10 -o json | jq -r '[.[] | select(.parts)][0].runId')
assert_eq Failed "$(run_field "$FAILED" .status)" "the split run failed"
assert_contains "$(run_field "$FAILED" .runErrorMessage)" "linux/arm64 (run $(part_of "$FAILED" linux/arm64)) failed:" \
  "its error names the part"
assert_eq Canceled "$(run_field "$(part_of "$FAILED" linux/amd64)" .status)" "the amd64 part was canceled"
[ $(($(date +%s) - START)) -lt 55 ] || fail "the amd64 part's 60 s RUN was not stopped"
ok "in $(($(date +%s) - START)) s, not after the amd64 part's 60 s RUN"

ok "multi-platform builds"
