#!/usr/bin/env bash
# Rebase instead of rebuild (issue 16) end to end, against a real server
# building with runc: a base image update rebases the tasks whose images
# only add files (no build: the run says so; the file tree equals a full
# rebuild's; podman runs it; a verification command runs in it first), and
# rebuilds, with the reason recorded, each task the gate refuses: RUN steps,
# a package database written, a base file overwritten, a changed inherited
# Entrypoint, patch mode rebuild. A failing verification moves no tag. A
# 3-level chain is rebased level by level. `drydock image rebase` by hand.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/drydock.yaml" <<EOF
builds:
  allow_private_fetches: true  # the contexts are served on loopback
  concurrency: 2
EOF
start_server --config "$WORK/drydock.yaml"
client_login
use_build_env
serve_www

# context NAME DOCKERFILE: $WORK/ctx/NAME with that Dockerfile (@REG@ is the
# registry) and the shared files, served as $WWW_URL/NAME.tar.gz.
mkdir -p "$WORK/files"
echo hello >"$WORK/files/hello.txt"
echo mid >"$WORK/files/mid.txt"
echo leaf >"$WORK/files/leaf.txt"
printf 'Package: app\nStatus: install ok installed\n' >"$WORK/files/status"
printf 'tag=mine\n' >"$WORK/files/drydock-test"
context() {
  mkdir -p "$WORK/ctx/$1"
  cp "$WORK/files/"* "$WORK/ctx/$1/"
  printf '%b' "$2" | dockerfile "$WORK/ctx/$1/Dockerfile"
  tar -czf "$WORK/www/$1.tar.gz" -C "$WORK/ctx/$1" .
}
# task NAME DOCKERFILE [create flags...]
task() {
  local name=$1
  context "$name" "$2"
  shift 2
  drydock task create -n "$name" -c "$WWW_URL/$name.tar.gz" "$@" >"$WORK/task-$name.out" 2>&1 ||
    { cat "$WORK/task-$name.out" >&2; fail "task create $name"; }
}
patch_of() { run_field "$(newest_run "$1")" "$2"; }

log "bases: base/os:1, and base/ep:1 built on it"
push_base base/os:1 v1
context ep1 'FROM @REG@/base/os:1\nLABEL ep=1\n'
build ctx/ep1 -t "$REG/base/ep:1" --push >/dev/null

log "tasks: copy-only ones (rebased) and one per reason to rebuild"
FROM='FROM @REG@/base/os:1\n'
task copy "${FROM}COPY hello.txt /app/hello.txt\nENV MODE=prod\nCMD [\"/bin/cat\", \"/app/hello.txt\"]\n" \
  -t rb/copy:latest -t 'rb/copy:{{.Run.ID}}' --patch-verify 'test "$(cat /app/hello.txt)" = hello'
task run "${FROM}RUN echo built >/built.txt\n" -t rb/run:1
task runok "${FROM}RUN echo built >/built.txt\n" -t rb/runok:1 --patch-mode rebase
task dpkg "${FROM}COPY status /var/lib/dpkg/status\n" -t rb/dpkg:1
task over "${FROM}COPY drydock-test /etc/drydock-test\n" -t rb/over:1
task vfail "${FROM}COPY hello.txt /hello.txt\n" -t rb/vfail:1 --patch-verify 'test -f /nonexistent' \
  --patch-verify-failure fail
task never "${FROM}COPY hello.txt /hello.txt\n" -t rb/never:1 --patch-mode rebuild
task ep 'FROM @REG@/base/ep:1\nCOPY hello.txt /hello.txt\n' -t rb/ep:1
task mid "${FROM}COPY mid.txt /mid.txt\n" -t rb/mid:1
TASKS=(copy run runok dpkg over vfail never ep mid)
for t in "${TASKS[@]}"; do drydock task run -n "$t" --no-wait >/dev/null || fail "task run $t"; done
wait_idle 300
for t in "${TASKS[@]}"; do all_succeeded "$t"; done
task leaf 'FROM @REG@/rb/mid:1\nCOPY leaf.txt /leaf.txt\n' -t rb/leaf:1
drydock task run -n leaf >/dev/null 2>&1 || fail "task run leaf"
assert_eq "org.opencontainers.image.base.name=$REG/base/os:1 org.opencontainers.image.base.digest=$(digest_of base/os:1) dev.drydock.base.layers=2 dev.drydock.build.run-steps=0" \
  "$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/rb/copy:latest" |
    jq -r '.annotations | "org.opencontainers.image.base.name=\(.["org.opencontainers.image.base.name"]) org.opencontainers.image.base.digest=\(.["org.opencontainers.image.base.digest"]) dev.drydock.base.layers=\(.["dev.drydock.base.layers"]) dev.drydock.build.run-steps=\(.["dev.drydock.build.run-steps"])"')" \
  "a built image records its base, its base layer count and its RUN steps"
assert_eq 1 "$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/rb/run:1" |
  jq -r '.annotations["dev.drydock.build.run-steps"]')" "a RUN step is counted"
VFAIL_BEFORE=$(digest_of rb/vfail:1)

COPY_BEFORE=$(digest_of rb/copy:latest)

log "the base moves: base/os:1 v2 (with an SBOM), and base/ep:1 gains an ENTRYPOINT"
# v2's SBOM is pushed first, as a referrer of the digest v2 will have: the
# rebased images' SBOMs are made from it.
V2_DIR="$WORK/layouts/os-v2"
V2=$(make_busybox_layout "$V2_DIR" 1 v2)
printf '{}' >"$WORK/empty.json"
EMPTY=$(upload_blob base/os "$WORK/empty.json")
jq -n '{spdxVersion: "SPDX-2.3", SPDXID: "SPDXRef-DOCUMENT", name: "base/os:1 v2", packages: [{name: "busybox",
  versionInfo: "1.36.1-9", externalRefs: [{referenceCategory: "PACKAGE-MANAGER", referenceType: "purl",
  referenceLocator: "pkg:deb/debian/busybox@1.36.1-9?arch=amd64"}]}]}' >"$WORK/os-v2.spdx.json"
DOC=$(upload_blob base/os "$WORK/os-v2.spdx.json")
jq -n --arg e "$EMPTY" --arg d "$DOC" --argjson s "$(stat -c %s "$WORK/os-v2.spdx.json")" --arg v2 "$V2" \
  --argjson vs "$(stat -c %s "$(layout_blob "$V2_DIR" "$V2")")" '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/spdx+json",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
    layers: [{mediaType: "application/spdx+json", digest: $d, size: $s}],
    subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $v2, size: $vs}}' >"$WORK/os-v2.sbom"
put_manifest base/os "sha256:$(sha256_of "$WORK/os-v2.sbom")" "$WORK/os-v2.sbom"
assert_status 201 "$STATUS" "v2's SBOM, before v2"
push_layout "$V2_DIR" 1 base/os:1
assert_eq "$V2" "$(digest_of base/os:1)" "base/os:1 is v2"
context ep2 'FROM @REG@/base/os:1\nLABEL ep=1\nENTRYPOINT ["/bin/echo"]\n'
build ctx/ep2 -t "$REG/base/ep:1" --push >/dev/null
for t in "${TASKS[@]}" leaf; do wait_count "$t" 2 120; done
wait_idle 300

log "copy-only images are rebased: no build, verified, the base's new files"
assert_eq "Succeeded rebase" "$(patch_of copy '"\(.status) \(.patch.kind)"')" "copy: rebased"
COPY_RUN=$(newest_run copy)
drydock run logs "$COPY_RUN" >"$WORK/copy.log" 2>&1 || true
assert_contains "$(cat "$WORK/copy.log")" "Executing step ID: rebase" "copy's log: the rebase step"
assert_not_contains "$(cat "$WORK/copy.log")" "Executing step ID: build" "copy's log: no build"
assert_contains "$(cat "$WORK/copy.log")" "Verifying " "copy's log: the verification ran"
assert_eq v2 "$(file_in rb/copy:latest etc/drydock-test | sed -n 3p)" "rb/copy:latest on base v2"
assert_eq hello "$(file_in rb/copy:latest app/hello.txt)" "its own file kept"
assert_eq "$(digest_of rb/copy:latest)" "$(digest_of "rb/copy:$COPY_RUN")" "both tags, one image"
assert_eq "$(digest_of base/os:1)" "$(patch_of copy .patch.newBaseDigest)" "the run names the new base digest"
assert_eq "$(digest_of rb/copy:latest)" "$(patch_of copy '.outputImages[0].digest')" "the run's output image"
assert_eq "$(digest_of base/os:1)" "$(drydock task show -n copy | jq -r '.baseImageDependencies[0].digest')" \
  "the task's dependency index records the new base"
config_of rb/copy:latest >"$WORK/copy.config"
assert_eq '["/bin/cat","/app/hello.txt"] ["PATH=/bin","MODE=prod"]' \
  "$(jq -c '.config.Cmd' "$WORK/copy.config") $(jq -c '.config.Env' "$WORK/copy.config")" "its config kept"
drydock verify "$REG/rb/copy:latest" --key "$DATA/signing-key.pub" --insecure-registry "$REG" >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out" >&2; fail "the rebased image is not signed by the server"; }
drydock verify "$REG/rb/copy:latest" --key "$DATA/signing-key.pub" --require-sbom --require-provenance \
  --insecure-registry "$REG" >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out" >&2; fail "the rebased image's attestations do not verify"; }
assert_contains "$(cat "$WORK/verify.out")" "ok    image $(digest_of rb/copy:latest): signed" "the rebased image is signed by the server"
assert_eq 3 "$(grep -c '^ok ' "$WORK/verify.out")" "and so are its SBOM and provenance"
assert_eq "busybox 1.36.1-9" "$(drydock image sbom "$REG/rb/copy:latest" --insecure-registry "$REG" -o table |
  tail -n +2 | cut -f1,2 | tr '\t' ' ')" "its SBOM: the new base's packages"
assert_contains "$(drydock image which-contain busybox@1.36.1-9)" "rb/copy" "which-contain finds the rebased image"
drydock image provenance "$REG/rb/copy:latest" --insecure-registry "$REG" >"$WORK/copy.prov" || fail "image provenance"
assert_eq "$REG/rb/copy@$COPY_BEFORE $REG/base/os:1@$V2 $COPY_RUN" \
  "$(jq -r '.predicate | "\(.buildDefinition.externalParameters.rebase.image) \(.buildDefinition.externalParameters.rebase.onto) \(.buildDefinition.internalParameters.runId)"' "$WORK/copy.prov")" \
  "its provenance: the image rebased, the base it now sits on, the run"
assert_eq "${COPY_BEFORE#sha256:} ${V2#sha256:}" \
  "$(jq -r '[.predicate.buildDefinition.resolvedDependencies[].digest.sha256] | join(" ")' "$WORK/copy.prov")" \
  "resolved dependencies: the old image and the new base, by digest"

log "the rebased tree equals a full rebuild's"
build ctx/copy --no-cache -t "$REG/rb/copy-rebuilt:1" --push >/dev/null
rootfs rb/copy:latest "$WORK/rebased"
rootfs rb/copy-rebuilt:1 "$WORK/rebuilt"
tree() { (cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | sort); }
assert_eq "$(tree "$WORK/rebuilt")" "$(tree "$WORK/rebased")" "file trees: names, types, modes, owners, sizes"
diff -r "$WORK/rebuilt" "$WORK/rebased" >"$WORK/tree.diff" 2>&1 || { cat "$WORK/tree.diff" >&2; fail "file contents differ"; }
ok "rebased and rebuilt trees are identical"
lim() { local h; h=$(ulimit "-H$1"); [ "$h" = unlimited ] || [ "$h" -gt 1024 ] && h=1024; echo "$h"; }
podman pull -q --tls-verify=false --creds "admin:$ADMIN_PASS" "$REG/rb/copy:latest" >/dev/null 2>"$WORK/podman.err" ||
  fail "podman pull of the rebased image: $(tail -n 1 "$WORK/podman.err")"
if podman run --rm --runtime runc --ulimit "nofile=$(lim n):$(lim n)" --ulimit "nproc=$(lim u):$(lim u)" \
  "$REG/rb/copy:latest" >"$WORK/podman.out" 2>"$WORK/podman.err"; then
  assert_eq hello "$(cat "$WORK/podman.out")" "podman run of the rebased image"
  podman rmi -f "$REG/rb/copy:latest" >/dev/null 2>&1 || true
else
  skip "podman run cannot start containers here: $(tail -n 1 "$WORK/podman.err")"
fi

log "the gate: each reason to rebuild, recorded on the run"
expect_rebuild() { # TASK REASON
  assert_eq "Succeeded rebuild" "$(patch_of "$1" '"\(.status) \(.patch.kind)"')" "$1: rebuilt"
  assert_contains "$(patch_of "$1" '.patch.reasons | join("; ")')" "$2" "$1: the reason"
  drydock run logs "$(newest_run "$1")" >"$WORK/$1.log" 2>&1 || true
  assert_contains "$(cat "$WORK/$1.log")" "Not rebased: " "$1: the log says why"
}
expect_rebuild run "1 RUN step(s) ran on the old base"
assert_eq built "$(file_in rb/run:1 built.txt)" "run: RUN output rebuilt"
assert_eq v2 "$(file_in rb/run:1 etc/drydock-test | sed -n 3p)" "run: rebuilt on v2"
expect_rebuild dpkg "package database: /var/lib/dpkg/status"
expect_rebuild over "replace or delete paths of the base: /etc/drydock-test"
expect_rebuild ep "the base's Entrypoint changed from nothing to [\"/bin/echo\"]"
expect_rebuild never "the task's patch mode is rebuild"
assert_eq "Succeeded rebase" "$(patch_of runok '"\(.status) \(.patch.kind)"')" "runok: --patch-mode rebase"
assert_eq built "$(file_in rb/runok:1 built.txt)" "runok: its RUN layer kept"

log "a failing verification moves no tag"
assert_eq Failed "$(patch_of vfail .status)" "vfail: the run failed"
assert_contains "$(patch_of vfail .runErrorMessage)" "verification failed" "vfail: why"
assert_eq "$VFAIL_BEFORE" "$(digest_of rb/vfail:1)" "vfail: rb/vfail:1 did not move"

log "a 3-level chain: base -> mid -> leaf, each rebased"
assert_eq "Succeeded rebase" "$(patch_of mid '"\(.status) \(.patch.kind)"')" "mid: rebased"
assert_eq "Succeeded rebase mid" "$(patch_of leaf '"\(.status) \(.patch.kind) \(.imageUpdateTrigger.cascade | join(","))"')" \
  "leaf: rebased, caused by mid's run"
rootfs rb/leaf:1 "$WORK/leaf"
assert_eq "v2 mid leaf" "$(sed -n 3p "$WORK/leaf/etc/drydock-test") $(cat "$WORK/leaf/mid.txt") $(cat "$WORK/leaf/leaf.txt")" \
  "leaf carries base v2 through mid"

log "drydock image rebase, by hand"
push_base base/cli:1 v1
context cli 'FROM @REG@/base/cli:1\nCOPY hello.txt /hello.txt\n'
build ctx/cli -t "$REG/rb/cli:1" --push >/dev/null
context clirun 'FROM @REG@/base/cli:1\nRUN echo x >/x\n'
build ctx/clirun -t "$REG/rb/clirun:1" --push >/dev/null
BEFORE=$(digest_of rb/cli:1)
assert_eq "up to date" "$(drydock image rebase "$REG/rb/cli:1" -o json | jq -r .result)" "nothing to do before the base moves"
push_base base/cli:1 v2
drydock image rebase "$REG/rb/cli:1" --dry-run -o json >"$WORK/dry.json" || fail "rebase --dry-run"
assert_eq "dry run" "$(jq -r .result "$WORK/dry.json")" "--dry-run decides"
assert_eq "$BEFORE" "$(digest_of rb/cli:1)" "--dry-run pushes nothing"
drydock image rebase "$REG/rb/cli:1" --tag "$REG/rb/cli:patched" >"$WORK/cli.out" 2>"$WORK/cli.err" ||
  { cat "$WORK/cli.err" >&2; fail "image rebase"; }
assert_contains "$(cat "$WORK/cli.out")" "rebased $REG/rb/cli:1" "its report"
assert_eq "$(jq -r .digest "$WORK/dry.json")" "$(digest_of rb/cli:patched)" "the dry run named the digest the rebase made"
assert_eq "$BEFORE" "$(digest_of rb/cli:1)" "--tag leaves the image's own tag alone"
assert_eq v2 "$(file_in rb/cli:patched etc/drydock-test | sed -n 3p)" "rb/cli:patched on base v2"
set +e
drydock image rebase "$REG/rb/clirun:1" >"$WORK/clirun.out" 2>&1
code=$?
set -e
assert_eq 3 "$code" "an image with a RUN step is not rebased (exit 3)"
assert_contains "$(cat "$WORK/clirun.out")" "RUN step(s) ran on the old base" "the reason is printed"
drydock image rebase "$REG/rb/clirun:1" --allow-run-steps >/dev/null 2>&1 || fail "--allow-run-steps"
assert_eq x "$(file_in rb/clirun:1 x)" "--allow-run-steps rebased it"
assert_eq v2 "$(file_in rb/clirun:1 etc/drydock-test | sed -n 3p)" "onto v2"

log "a multi-platform index is rebased platform by platform"
make_multiarch_layout "$WORK/layouts/multi-v1" 1 v1 >/dev/null
push_layout "$WORK/layouts/multi-v1" 1 base/multi:1 --all
context multi 'FROM @REG@/base/multi:1\nCOPY hello.txt /hello.txt\n'
build ctx/multi -t "$REG/rb/multi:amd64" --push >/dev/null
build ctx/multi --platform linux/arm64 -t "$REG/rb/multi:arm64" --push >/dev/null
entry() { # TAG ARCH: an index entry for rb/multi:TAG
  skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/rb/multi:$1" >"$WORK/m.json"
  jq -cn --arg d "sha256:$(sha256_of "$WORK/m.json")" --argjson s "$(stat -c %s "$WORK/m.json")" --arg a "$2" \
    '{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s, platform: {os: "linux", architecture: $a}}'
}
jq -cn --argjson a "$(entry amd64 amd64)" --argjson b "$(entry arm64 arm64)" \
  --arg base "$REG/base/multi:1" --arg bd "$(digest_of base/multi:1)" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$a, $b],
    annotations: {"org.opencontainers.image.base.name": $base, "org.opencontainers.image.base.digest": $bd}}' \
  >"$WORK/index.json"
put_manifest rb/multi 1 "$WORK/index.json" application/vnd.oci.image.index.v1+json
assert_status 201 "$STATUS" "the app's index pushed"
make_multiarch_layout "$WORK/layouts/multi-v2" 1 v2 >/dev/null
push_layout "$WORK/layouts/multi-v2" 1 base/multi:1 --all
drydock image rebase "$REG/rb/multi:1" -o json >"$WORK/multi.json" 2>"$WORK/multi.err" ||
  { cat "$WORK/multi.err" >&2; fail "image rebase of an index"; }
assert_eq "rebased $(digest_of rb/multi:1)" "$(jq -r '"\(.result) \(.digest)"' "$WORK/multi.json")" "the index was rebased and tagged"
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/rb/multi:1" >"$WORK/multi.idx"
assert_eq "application/vnd.oci.image.index.v1+json amd64,arm64 $(digest_of base/multi:1)" \
  "$(jq -r '"\(.mediaType) \([.manifests[].platform.architecture] | join(",")) \(.annotations["org.opencontainers.image.base.digest"])"' "$WORK/multi.idx")" \
  "still an index of both platforms, naming the new base index"
for arch in amd64 arm64; do
  rootfs "rb/multi@$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' "$WORK/multi.idx")" "$WORK/multi-$arch"
  assert_eq "arch=$arch v2 hello" "$(sed -n 2,3p "$WORK/multi-$arch/etc/drydock-test" | tr '\n' ' ')$(cat "$WORK/multi-$arch/hello.txt")" \
    "$arch: its own file on its platform's new base"
done
assert_eq "up to date" "$(drydock image rebase "$REG/rb/multi:1" -o json | jq -r .result)" "rebasing it again: nothing to do"
ok "rebase: every case"
