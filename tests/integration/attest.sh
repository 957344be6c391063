#!/usr/bin/env bash
# Supply chain (issue 17), end to end: a task built from git on a Debian 12
# base made with debootstrap pushes its image with an SPDX SBOM that lists
# exactly what dpkg-query reports inside that base, a SLSA provenance
# naming the commit and the base digest used, and Sigstore bundles signing
# the image and each attestation, all as OCI 1.1 referrers. `drydock
# verify` checks them; OpenSSL (over DSSE's PAE) and Sigstore's own library
# (@sigstore/verify, from npm) check a signature independently;
# a forged attestation, another key or another source repository fail. A
# busybox image gets an SBOM with no packages and a note saying why.
# `drydock image which-contain libc6` finds the app (and the version
# dpkg-query reports) until the image is deleted. A task
# with --trusted-base-key: an unsigned base update fails its run (and says
# why), a signed one goes through; a task file's build steps are checked
# too, and the image its push step sends carries SBOM, provenance and
# signatures like any other. An rpm-based image (packages made with
# rpmbuild, installed with rpm --root) gets an SBOM that lists exactly what
# rpm -qa reports, epochs included.
. "$(dirname "$0")/lib.sh"

log "Debian bookworm minbase (debootstrap)"
debian_rootfs "$WORK/debian"
start_server
client_login
use_build_env
KEY="$DATA/signing-key.pub"
[ -s "$KEY" ] || fail "the server wrote no $KEY"
assert_contains "$(cat "$SERVER_LOG")" "images are signed with key" "the server names its key"
push_rootfs base/debian:12 "$WORK/debian"
BASE=$(digest_of base/debian:12)

log "a git repository with the app, served by git daemon"
SRC="$WORK/src"
g() { git -C "$SRC" -c user.email=t@example.com -c user.name=t "$@"; }
git init -q -b main "$SRC"
printf 'FROM %s/base/debian:12\nARG VERSION\nCOPY app.txt /app.txt\n' "$REG" >"$SRC/Dockerfile"
echo app >"$SRC/app.txt"
g add -A && g commit -qm one
COMMIT=$(g rev-parse HEAD)
mkdir -p "$WORK/git"
git clone -q --bare "$SRC" "$WORK/git/app.git"
GPORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GPORT" \
  "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
BG_PIDS+=($!)
wait_port "$GPORT" "git daemon"
GIT="git://127.0.0.1:$GPORT/app.git"

log "a task run pushes the image with its attestations"
drydock task create -n app -c "$GIT#main" -t deb/app:1 --arg VERSION=1.2 \
  --secret-arg TOKEN=s3cr3t-value >"$WORK/create.out" 2>&1 || { cat "$WORK/create.out" >&2; fail "task create"; }
drydock task run -n app >"$WORK/run.out" 2>&1 || { tail -n 20 "$WORK/run.out" >&2; fail "task run"; }
RUN=$(newest_run app)
IMAGE=$(digest_of deb/app:1)
drydock run logs "$RUN" >"$WORK/run.log" 2>&1 || true
assert_contains "$(cat "$WORK/run.log")" "attached sbom" "the log names the SBOM"
req GET "/v2/deb/app/referrers/$IMAGE" "${ADMIN[@]}"
assert_status 200 "$STATUS" "the image's referrers"
assert_eq "application/spdx+json application/vnd.dev.sigstore.bundle.v0.3+json application/vnd.in-toto+json" \
  "$(jq -r '[.manifests[].artifactType] | sort | join(" ")' <<<"$LAST_BODY")" \
  "SBOM, provenance and the image's signature refer to the image"

log "the SBOM lists exactly what dpkg-query reports in the base"
drydock image sbom "$REG/deb/app:1" --insecure-registry "$REG" -o table >"$WORK/sbom.tsv" ||
  fail "drydock image sbom"
tail -n +2 "$WORK/sbom.tsv" | cut -f1,2 | sort >"$WORK/sbom.list"
chroot "$WORK/debian" dpkg-query -W -f='${db:Status-Status}\t${Package}\t${Version}\n' |
  awk -F'\t' '$1 == "installed" { print $2 "\t" $3 }' | sort >"$WORK/dpkg.list"
[ "$(wc -l <"$WORK/dpkg.list")" -gt 50 ] || fail "dpkg-query listed too few packages"
diff "$WORK/dpkg.list" "$WORK/sbom.list" >"$WORK/sbom.diff" || { head -n 20 "$WORK/sbom.diff" >&2; fail "SBOM != dpkg-query -W"; }
ok "SBOM: the $(wc -l <"$WORK/sbom.list") packages dpkg-query reports, with their versions"
drydock image sbom "$REG/deb/app:1" --insecure-registry "$REG" >"$WORK/sbom.json"
assert_eq "SPDX-2.3 $REG/base/debian:12 $BASE" \
  "$(jq -r '"\(.spdxVersion) \(.packages[1].name) \(.packages[1].versionInfo)"' "$WORK/sbom.json")" \
  "the SBOM names the base and its digest"
assert_contains "$(grep -m1 $'^libc6\t' "$WORK/sbom.tsv")" "pkg:deb/debian/libc6@" "package URLs"

log "which-contain answers from the stored SBOMs"
LIBC=$(awk -F'\t' '$1 == "libc6" { print $2 }' "$WORK/dpkg.list")
drydock image which-contain libc6 -o json >"$WORK/which.json" || fail "drydock image which-contain libc6"
assert_eq "deb/app 1 $IMAGE $LIBC" \
  "$(jq -r '.[] | "\(.repository) \(.tags | join(",")) \(.digest) \(.version)"' "$WORK/which.json")" \
  "libc6: in deb/app:1, at the version dpkg-query reports"
assert_contains "$(drydock image which-contain "libc6@$LIBC")" "deb/app" "libc6@$LIBC, as a table"
assert_contains "$(drydock image which-contain libc6@0.0-not-this)" "no stored SBOM lists" "another version: none"
assert_eq "[]" "$(drydock image which-contain no-such-package -o json | jq -c .)" "an unknown package: none"

log "the provenance names the commit, the base digest and the run, and no secret"
drydock image provenance "$REG/deb/app:1" --insecure-registry "$REG" >"$WORK/prov.json" ||
  fail "drydock image provenance"
assert_eq "https://slsa.dev/provenance/v1 ${IMAGE#sha256:} $GIT $COMMIT $RUN" \
  "$(jq -r '"\(.predicateType) \(.subject[0].digest.sha256) \(.predicate.buildDefinition.externalParameters.source.uri) \(.predicate.buildDefinition.externalParameters.source.digest.sha1) \(.predicate.buildDefinition.internalParameters.runId)"' "$WORK/prov.json")" \
  "subject, source and run"
assert_eq "${BASE#sha256:}" \
  "$(jq -r '.predicate.buildDefinition.resolvedDependencies[] | select(.uri | startswith("pkg:docker/")) | .digest.sha256' "$WORK/prov.json")" \
  "the base digest actually used"
assert_eq "1.2" "$(jq -r '.predicate.buildDefinition.externalParameters.buildArgs.VERSION' "$WORK/prov.json")" "build args"
assert_not_contains "$(cat "$WORK/prov.json")" "s3cr3t-value" "no secret value"
assert_not_contains "$(cat "$WORK/prov.json")" "TOKEN" "no secret name"

log "drydock verify"
drydock verify "$REG/deb/app:1" --key "$KEY" --require-sbom --require-provenance --source-repo "$GIT" \
  --insecure-registry "$REG" >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "verify"; }
assert_contains "$(cat "$WORK/verify.out")" "verified $REG/deb/app:1" "verified"
assert_eq 3 "$(grep -c '^ok ' "$WORK/verify.out")" "image, SBOM and provenance checks"

log "OpenSSL checks the image's signature on its own"
SIG=$(jq -r '.manifests[] | select(.artifactType == "application/vnd.dev.sigstore.bundle.v0.3+json") | .digest' <<<"$LAST_BODY")
skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/deb/app@$SIG" >"$WORK/sig.manifest"
curl -sS "${ADMIN[@]}" -o "$WORK/bundle.json" "$URL/v2/deb/app/blobs/$(jq -r '.layers[0].digest' "$WORK/sig.manifest")"
jq -r .dsseEnvelope.payload "$WORK/bundle.json" | base64 -d >"$WORK/payload"
jq -r '.dsseEnvelope.signatures[0].sig' "$WORK/bundle.json" | base64 -d >"$WORK/sig.der"
TYPE=$(jq -r .dsseEnvelope.payloadType "$WORK/bundle.json")
printf 'DSSEv1 %d %s %d ' "${#TYPE}" "$TYPE" "$(stat -c %s "$WORK/payload")" | cat - "$WORK/payload" >"$WORK/pae"
openssl dgst -sha256 -verify "$KEY" -signature "$WORK/sig.der" "$WORK/pae" >"$WORK/openssl.out" 2>&1 ||
  { cat "$WORK/openssl.out" >&2; fail "openssl does not verify the signature"; }
assert_eq "${IMAGE#sha256:} https://sigstore.dev/cosign/sign/v1" \
  "$(jq -r '"\(.subject[0].digest.sha256) \(.predicateType)"' "$WORK/payload")" "the signed statement names the image"
printf 'x' >>"$WORK/pae"
if openssl dgst -sha256 -verify "$KEY" -signature "$WORK/sig.der" "$WORK/pae" >/dev/null 2>&1; then
  fail "openssl verified a changed payload"
fi
ok "openssl refuses a changed payload"

log "Sigstore's own library (@sigstore/verify, from npm) verifies the image's signature"
mkdir -p "$WORK/sigstore"
cp "$REPO_ROOT/tests/integration/sigstore/"{package.json,package-lock.json,verify.js} "$WORK/sigstore/"
(cd "$WORK/sigstore" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) ||
  { tail -n 20 "$WORK/npm.log" >&2; fail "npm ci of @sigstore/verify"; }
node "$WORK/sigstore/verify.js" "$WORK/bundle.json" "$KEY" >"$WORK/sigstore.out" 2>&1 ||
  { cat "$WORK/sigstore.out" >&2; fail "@sigstore/verify refused Drydock's bundle"; }
assert_eq "https://sigstore.dev/cosign/sign/v1 ${IMAGE#sha256:}" "$(cat "$WORK/sigstore.out")" \
  "@sigstore/verify: a valid signature naming the image"
jq --arg p "$(jq -c '.subject[0].digest.sha256 = "0000"' "$WORK/payload" | base64 -w0)" \
  '.dsseEnvelope.payload = $p' "$WORK/bundle.json" >"$WORK/tampered.json"
if node "$WORK/sigstore/verify.js" "$WORK/tampered.json" "$KEY" >"$WORK/tampered.out" 2>&1; then
  fail "@sigstore/verify accepted a bundle whose statement was changed"
fi
assert_contains "$(cat "$WORK/tampered.out")" "signature verification failed" "@sigstore/verify refuses a changed statement"

log "forgeries fail: an unsigned SBOM, another key, another source"
# A forged SBOM attached to the image, signed by nobody the verifier trusts.
echo '{"spdxVersion":"SPDX-2.3","documentNamespace":"https://x/'"${IMAGE#sha256:}"'","packages":[]}' >"$WORK/forged.json"
FORGED_DIGEST=$(upload_blob deb/app "$WORK/forged.json")
printf '{}' >"$WORK/empty.json"
upload_blob deb/app "$WORK/empty.json" >/dev/null
IMAGE_SIZE=$(skopeo inspect --raw --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/deb/app:1" | wc -c)
jq -cn --arg d "$FORGED_DIGEST" --argjson s "$(stat -c %s "$WORK/forged.json")" --arg img "$IMAGE" --argjson is "$IMAGE_SIZE" \
  --arg e "sha256:$(sha256_of "$WORK/empty.json")" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/spdx+json",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
    layers: [{mediaType: "application/spdx+json", digest: $d, size: $s}],
    subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $img, size: $is}}' >"$WORK/forged.manifest"
put_manifest deb/app "sha256:$(sha256_of "$WORK/forged.manifest")" "$WORK/forged.manifest"
assert_status 201 "$STATUS" "the forged SBOM is pushed"
set +e
drydock verify "$REG/deb/app:1" --key "$KEY" --insecure-registry "$REG" >"$WORK/forged.out" 2>&1
code=$?
set -e
assert_eq 3 "$code" "verify fails with a forged SBOM attached"
assert_contains "$(cat "$WORK/forged.out")" "FAIL  sbom sha256:$(sha256_of "$WORK/forged.manifest"): no signature" "it names the forgery"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/other.key" 2>/dev/null
openssl ec -in "$WORK/other.key" -pubout -out "$WORK/other.pub" 2>/dev/null
set +e
drydock verify "$REG/deb/app:1" --key "$WORK/other.pub" --insecure-registry "$REG" >"$WORK/other.out" 2>&1
code=$?
set -e
assert_eq 3 "$code" "verify fails with another key"
assert_contains "$(cat "$WORK/other.out")" "does not verify with key" "it says why"
set +e
drydock verify "$REG/deb/app@$IMAGE" --key "$KEY" --source-repo git://elsewhere/app.git --insecure-registry "$REG" \
  >"$WORK/src.out" 2>&1
code=$?
set -e
assert_eq 3 "$code" "verify fails for another source repository"
assert_contains "$(cat "$WORK/src.out")" "not git://elsewhere/app.git" "it names both"

log "a busybox image: an SBOM with no packages, and why"
push_base base/busybox:1 v1
mkdir -p "$WORK/ctx/bb"
printf 'FROM @REG@/base/busybox:1\nCOPY f /f\n' | dockerfile "$WORK/ctx/bb/Dockerfile"
echo f >"$WORK/ctx/bb/f"
drydock build "$WORK/ctx/bb" -t bb:1 >"$WORK/bb.out" 2>&1 || { tail -n 20 "$WORK/bb.out" >&2; fail "quick build"; }
drydock image sbom "$REG/bb:1" --insecure-registry "$REG" >"$WORK/bb.json" || fail "image sbom bb:1"
assert_eq "0" "$(jq '[.packages[] | select(.primaryPackagePurpose != "CONTAINER")] | length' "$WORK/bb.json")" "no packages"
assert_contains "$(jq -r .comment "$WORK/bb.json")" "no package database" "the note says why"
drydock verify "$REG/bb:1" --key "$KEY" --require-sbom --insecure-registry "$REG" >/dev/null 2>&1 ||
  fail "a quick build's image verifies"
drydock image provenance "$REG/bb:1" --insecure-registry "$REG" >"$WORK/bb-prov.json" || fail "image provenance bb:1"
assert_contains "$(jq -r '.predicate.buildDefinition.externalParameters.source | "\(.uri) \(.digest.sha256)"' "$WORK/bb-prov.json")" \
  "context:" "an uploaded context's provenance names the upload"
[[ $(jq -r '.predicate.buildDefinition.externalParameters.source.digest.sha256' "$WORK/bb-prov.json") =~ ^[0-9a-f]{64}$ ]] ||
  fail "no digest of the uploaded context in the provenance: $(jq -c .predicate.buildDefinition.externalParameters.source "$WORK/bb-prov.json")"
ok "and its digest"
log "an rpm-based image: the SBOM lists exactly what rpm -qa reports"
RPMROOT="$WORK/rpmroot"
mkdir -p "$RPMROOT/etc"
printf 'ID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n' >"$RPMROOT/etc/os-release"
RPMQ=(rpm --root "$RPMROOT" --dbpath /var/lib/rpm --define '_db_backend sqlite')
"${RPMQ[@]}" --initdb
for spec in "hello-drydock 1.2.3 4.fc39 0" "libfoo 2.0 1.fc39 3"; do
  set -- $spec
  {
    printf 'Name: %s\nVersion: %s\nRelease: %s\n' "$1" "$2" "$3"
    [ "$4" = 0 ] || printf 'Epoch: %s\n' "$4"
    printf 'Summary: test\nLicense: MIT\nBuildArch: noarch\n%%description\ntest\n'
    printf '%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s >%%{buildroot}/usr/share/%s/f\n' "$1" "$1" "$1"
    printf '%%files\n/usr/share/%s/f\n' "$1"
  } >"$WORK/$1.spec"
  rpmbuild --define "_topdir $WORK/rpmbuild" -bb "$WORK/$1.spec" >"$WORK/rpmbuild-$1.log" 2>&1 ||
    { tail -n 20 "$WORK/rpmbuild-$1.log" >&2; fail "rpmbuild $1"; }
done
"${RPMQ[@]}" -i --nodeps --ignoreos --ignorearch "$WORK"/rpmbuild/RPMS/noarch/*.rpm >"$WORK/rpm-i.log" 2>&1 ||
  { cat "$WORK/rpm-i.log" >&2; fail "rpm -i into the image's root"; }
[ -s "$RPMROOT/var/lib/rpm/rpmdb.sqlite" ] || fail "rpm wrote no rpmdb.sqlite"
"${RPMQ[@]}" -qa --qf '%{NAME}\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\n' | sort >"$WORK/rpm.list"
assert_eq 2 "$(wc -l <"$WORK/rpm.list")" "rpm -qa lists the two packages"
push_rootfs base/fedora:39 "$RPMROOT"
mkdir -p "$WORK/ctx/rpmapp"
printf 'FROM @REG@/base/fedora:39\nCOPY f /f\n' | dockerfile "$WORK/ctx/rpmapp/Dockerfile"
echo f >"$WORK/ctx/rpmapp/f"
drydock build "$WORK/ctx/rpmapp" -t rpm/app:1 >"$WORK/rpmapp.out" 2>&1 || { tail -n 20 "$WORK/rpmapp.out" >&2; fail "quick build rpm/app"; }
drydock image sbom "$REG/rpm/app:1" --insecure-registry "$REG" -o table >"$WORK/rpm-sbom.tsv" || fail "image sbom rpm/app:1"
tail -n +2 "$WORK/rpm-sbom.tsv" | cut -f1,2 | sort >"$WORK/rpm-sbom.list"
diff "$WORK/rpm.list" "$WORK/rpm-sbom.list" >&2 || fail "the SBOM != rpm -qa"
ok "SBOM: the packages rpm -qa reports, epoch included ($(grep libfoo "$WORK/rpm.list" | cut -f2))"
assert_contains "$(grep -m1 $'^libfoo\t' "$WORK/rpm-sbom.tsv")" \
  "pkg:rpm/fedora/libfoo@2.0-1.fc39?arch=noarch&distro=fedora-39&epoch=3&upstream=libfoo-2.0-1.fc39.src.rpm" \
  "an rpm's package URL: epoch and source rpm as qualifiers"
assert_eq "rpm/app 1" "$(drydock image which-contain libfoo@3:2.0-1.fc39 -o json | jq -r '.[] | "\(.repository) \(.tags | join(","))"')" \
  "which-contain finds an rpm by [epoch:]version-release"

log "a task trusting one key: an unsigned base update rebuilds nothing, a signed one goes through"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/base.ec" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$WORK/base.ec" -out "$WORK/base.key"
openssl ec -in "$WORK/base.ec" -pubout -out "$WORK/base.pub" 2>/dev/null
mkdir -p "$WORK/ctx/trusted"
printf 'FROM @REG@/base/busybox:1\nCOPY f /version\n' | dockerfile "$WORK/ctx/trusted/Dockerfile"
echo 1 >"$WORK/ctx/trusted/f"
build ctx/trusted -t "$REG/base/trusted:1" --push --sign-key "$WORK/base.key" >/dev/null
serve_www
mkdir -p "$WORK/ctx/guarded"
printf 'FROM @REG@/base/trusted:1\nCOPY g /g\n' | dockerfile "$WORK/ctx/guarded/Dockerfile"
echo g >"$WORK/ctx/guarded/g"
tar -czf "$WORK/www/guarded.tar.gz" -C "$WORK/ctx/guarded" .
drydock task create -n guarded -c "$WWW_URL/guarded.tar.gz" -t deb/guarded:1 \
  --trusted-base-key "$WORK/base.pub" >"$WORK/guarded.out" 2>&1 || { cat "$WORK/guarded.out" >&2; fail "task create guarded"; }
set +e
drydock task create -n badkey -c "$WWW_URL/guarded.tar.gz" -t deb/badkey:1 --trusted-base-key "$WORK/base.key" \
  >"$WORK/badkey.out" 2>&1
code=$?
set -e
assert_ne 0 "$code" "a private key is refused as a trusted base key"
assert_contains "$(cat "$WORK/badkey.out")" "is a private key" "it says why"
drydock task run -n guarded >"$WORK/guarded1.out" 2>&1 || { tail -n 20 "$WORK/guarded1.out" >&2; fail "guarded: first run"; }
GUARDED=$(digest_of deb/guarded:1)
push_base base/trusted:1 unsigned
wait_count guarded 2 120
wait_idle 300
RUN=$(newest_run guarded)
assert_eq "Failed Image Update" "$(run_field "$RUN" '"\(.status) \(.trigger)"')" "an unsigned base update: the run fails"
assert_contains "$(run_field "$RUN" .runErrorMessage)" "is not signed by a trusted key" "the run list says why"
assert_eq "$GUARDED" "$(digest_of deb/guarded:1)" "deb/guarded:1 did not move"
echo 2 >"$WORK/ctx/trusted/f"
build ctx/trusted -t "$REG/base/trusted:1" --push --sign-key "$WORK/base.key" >/dev/null
wait_count guarded 3 120
wait_idle 300
RUN=$(newest_run guarded)
assert_eq "Succeeded" "$(run_field "$RUN" .status)" "a signed base update goes through"
assert_eq 2 "$(file_in deb/guarded:1 version)" "deb/guarded:1 on the signed base"
log "a task file's build steps trust only signed bases too"
mkdir -p "$WORK/ctx/filetask"
printf 'version: v1.1.0\nsteps:\n  - build: -t $Registry/deb/filetask:1 .\n  - push: ["$Registry/deb/filetask:1"]\n' \
  >"$WORK/ctx/filetask/acb.yaml"
printf 'FROM @REG@/base/trusted:1\nCOPY g /g\n' | dockerfile "$WORK/ctx/filetask/Dockerfile"
echo g >"$WORK/ctx/filetask/g"
tar -czf "$WORK/www/filetask.tar.gz" -C "$WORK/ctx/filetask" .
drydock task create -n filetask -f acb.yaml -c "$WWW_URL/filetask.tar.gz" --trusted-base-key "$WORK/base.pub" \
  >"$WORK/filetask.out" 2>&1 || { cat "$WORK/filetask.out" >&2; fail "task create filetask"; }
drydock task run -n filetask >"$WORK/filetask1.out" 2>&1 || true
assert_eq Succeeded "$(run_field "$(newest_run filetask)" .status)" "a task file's build on a signed base"
drydock verify "$REG/deb/filetask:1" --key "$KEY" --require-sbom --require-provenance --insecure-registry "$REG" \
  >"$WORK/filetask-verify.out" 2>&1 || { cat "$WORK/filetask-verify.out" >&2; fail "a push step's image does not verify"; }
assert_eq 3 "$(grep -c '^ok ' "$WORK/filetask-verify.out")" "a push step's image: signature, SBOM and provenance"
drydock image sbom "$REG/deb/filetask:1" --insecure-registry "$REG" >"$WORK/filetask-sbom.json" ||
  fail "image sbom deb/filetask:1"
assert_eq "$REG/base/trusted:1" "$(jq -r '.packages[1].name' "$WORK/filetask-sbom.json")" "its SBOM names its base"
printf 'FROM @REG@/base/busybox:1\nCOPY g /g\n' | dockerfile "$WORK/ctx/filetask/Dockerfile"
tar -czf "$WORK/www/filetask.tar.gz" -C "$WORK/ctx/filetask" .
drydock task run -n filetask >"$WORK/filetask2.out" 2>&1 || true
RUN=$(newest_run filetask)
assert_eq Failed "$(run_field "$RUN" .status)" "a task file's build on an unsigned base fails"
assert_contains "$(run_field "$RUN" .runErrorMessage)" "is not signed by a trusted key" "and says why"

log "which-contain stops finding an image once it is deleted"
req DELETE "/v2/deb/app/manifests/$IMAGE" "${ADMIN[@]}"
assert_status 202 "$STATUS" "deb/app's image deleted"
assert_eq "[]" "$(drydock image which-contain libc6 -o json | jq -c .)" "libc6: no image any more"
ok "supply chain"
