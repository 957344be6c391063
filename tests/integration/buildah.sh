#!/usr/bin/env bash
# buildah and podman against drydock: build on a busybox image, push (OCI
# and Docker formats), pull back into empty storage, run the pulled image.
. "$(dirname "$0")/lib.sh"

for tool in buildah podman skopeo; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done
start_server
CREDS=(--tls-verify=false --creds "admin:$ADMIN_PASS")
STAMP="built-$RANDOM$RANDOM"

run_quiet() {  # run_quiet WHAT CMD...: runs CMD, shows its output only on failure
  local what=$1
  shift
  "$@" >"$WORK/cmd.out" 2>&1 || { cat "$WORK/cmd.out" >&2; fail "$what: $*"; }
}

# head_digest REPO REF: the Docker-Content-Digest drydock reports.
head_digest() {
  req HEAD "/v2/$1/manifests/$2" "${ADMIN[@]}" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
  [ "$STATUS" = 200 ] || fail "HEAD $1:$2 -> $STATUS"
  header Docker-Content-Digest
}

# try_run WHAT CMD...: runs a container command, echoing its output; returns
# its status without failing the test (the caller decides what a failure means).
try_run() {
  local what=$1
  shift
  # stdout alone is the command's output: podman may log network teardown
  # errors on stderr when other tests create network namespaces meanwhile.
  if "$@" >"$WORK/run.out" 2>"$WORK/run.err"; then
    return 0
  fi
  log "$what failed: $(tail -n 3 "$WORK/run.out" "$WORK/run.err" | tr '\n' ' ')"
  return 1
}

log "build an image with buildah on a local busybox OCI layout"
make_busybox_layout "$WORK/src" base "buildah base" >/dev/null
run_quiet "buildah from oci layout" buildah from --name builder "oci:$WORK/src:base"
# Write a file without running anything, so building works even where no runtime does.
echo "$STAMP" >"$WORK/stamp.txt"
run_quiet "buildah copy" buildah copy builder "$WORK/stamp.txt" /stamp.txt
run_quiet "buildah config" buildah config --cmd '/bin/cat /stamp.txt' --label "drydock.test=$STAMP" builder
run_quiet "buildah commit" buildah commit --format oci builder localhost/app:built
ok "committed localhost/app:built"

log "buildah push (OCI and Docker formats)"
run_quiet "buildah push oci" buildah push "${CREDS[@]}" --format oci --digestfile "$WORK/oci.digest" \
  localhost/app:built "docker://$REG/buildah/app:v1"
OCI_DIGEST=$(cat "$WORK/oci.digest")
assert_eq "$OCI_DIGEST" "$(head_digest buildah/app v1)" "drydock digest of buildah/app:v1 vs buildah --digestfile"
req GET "/v2/buildah/app/manifests/v1" "${ADMIN[@]}"
assert_eq "application/vnd.oci.image.manifest.v1+json" "$(header Content-Type)" "OCI push Content-Type"
assert_eq "$OCI_DIGEST" "sha256:$(printf '%s' "$LAST_BODY" | sha256sum | cut -d' ' -f1)" "sha256 of served manifest bytes"
assert_eq 3 "$(jq '.layers | length' <<<"$LAST_BODY")" "layers (busybox, tag layer, buildah copy)"

run_quiet "buildah push docker" buildah push "${CREDS[@]}" --format docker --digestfile "$WORK/docker.digest" \
  localhost/app:built "docker://$REG/buildah/app:v1-docker"
DOCKER_DIGEST=$(cat "$WORK/docker.digest")
assert_eq "$DOCKER_DIGEST" "$(head_digest buildah/app v1-docker)" "drydock digest of buildah/app:v1-docker"
req GET "/v2/buildah/app/manifests/v1-docker" "${ADMIN[@]}"
assert_eq "application/vnd.docker.distribution.manifest.v2+json" "$(header Content-Type)" "Docker push Content-Type"

log "buildah pull into empty storage"
run_quiet "buildah rm" buildah rm --all
run_quiet "buildah rmi" buildah rmi --all --force
assert_eq 0 "$(buildah images -q | wc -l)" "images left in local storage"
run_quiet "buildah pull" buildah pull "${CREDS[@]}" "$REG/buildah/app:v1"
assert_eq "$OCI_DIGEST" "$(buildah inspect --type image --format '{{.FromImageDigest}}' "$REG/buildah/app:v1")" \
  "digest of the pulled image"
assert_eq "$STAMP" "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "drydock.test"}}' \
  "$REG/buildah/app:v1")" "label of the pulled image"
run_quiet "buildah pull by digest" buildah pull "${CREDS[@]}" "$REG/buildah/app@$DOCKER_DIGEST"
ok "buildah pull $REG/buildah/app@$DOCKER_DIGEST"

log "buildah from + run on the pulled image"
run_quiet "buildah from" buildah from --name runner "$REG/buildah/app:v1"
# The file content proves the layers arrived intact; reading it needs no runtime.
MNT=$(buildah mount runner)
assert_eq "$STAMP" "$(cat "$MNT/stamp.txt")" "/stamp.txt in the pulled rootfs"
assert_eq "$(sha256_of /bin/busybox)" "$(sha256_of "$MNT/bin/busybox")" "/bin/busybox in the pulled rootfs"
buildah umount runner >/dev/null
ran=""
for isolation in oci chroot; do
  if try_run "buildah run --isolation $isolation" buildah run --isolation "$isolation" runner -- /bin/sh -c \
    'cat /stamp.txt; busybox | head -n 1 | cut -d" " -f1'; then
    assert_eq "$STAMP BusyBox" "$(tr '\n' ' ' <"$WORK/run.out" | sed 's/ $//')" "buildah run --isolation $isolation output"
    ran=$isolation
    break
  fi
done
[ -n "$ran" ] || skip "buildah run: neither runc (oci) nor chroot isolation works here"

log "podman pull + inspect + run"
run_quiet "buildah rm" buildah rm --all
run_quiet "podman rmi" podman rmi --all --force
assert_eq 0 "$(podman images -q | wc -l)" "images left before podman pull"
run_quiet "podman pull" podman pull "${CREDS[@]}" "$REG/buildah/app:v1"
assert_eq "$OCI_DIGEST" "$(podman image inspect --format '{{.Digest}}' "$REG/buildah/app:v1")" "podman image digest"
assert_contains "$(podman image inspect --format '{{join .RepoDigests " "}}' "$REG/buildah/app:v1")" \
  "$REG/buildah/app@$OCI_DIGEST" "podman RepoDigests"
# This sandbox lacks CAP_SYS_RESOURCE, so podman's default rlimits (nofile and
# nproc above the hard limits) cannot be applied; ask for modest ones.
lim() { local h; h=$(ulimit "-H$1"); [ "$h" = unlimited ] || [ "$h" -gt 1024 ] && h=1024; echo "$h"; }
ULIMITS=(--ulimit "nofile=$(lim n):$(lim n)" --ulimit "nproc=$(lim u):$(lim u)")
if try_run "podman run" podman run --rm --runtime runc "${ULIMITS[@]}" "$REG/buildah/app:v1"; then
  assert_eq "$STAMP" "$(cat "$WORK/run.out")" "podman run output (the image's CMD)"
else
  skip "podman run cannot start containers here: $(tail -n 1 "$WORK/run.err")"
fi

log "podman push (retag within drydock)"
run_quiet "podman push" podman push "${CREDS[@]}" --digestfile "$WORK/podman.digest" \
  "$REG/buildah/app:v1" "docker://$REG/buildah/app:from-podman"
assert_eq "$(cat "$WORK/podman.digest")" "$(head_digest buildah/app from-podman)" "drydock digest of podman push"
TAGS=$(req GET /v2/buildah/app/tags/list "${ADMIN[@]}"; jq -r '.tags | join(",")' <<<"$LAST_BODY")
assert_eq "from-podman,v1,v1-docker" "$TAGS" "tags of buildah/app"
