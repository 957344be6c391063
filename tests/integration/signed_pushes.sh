#!/usr/bin/env bash
# registry.require_signed (issue 17): in repositories matching "prod/*" a tag
# may only name an image that a trusted key signed (a Sigstore bundle
# referrer); an unsigned image is stored by digest but cannot be tagged
# there (skopeo and a local build hear why), or with
# unsigned_push: refused is not stored at all. Signed pushes go through:
# `drydock build --local --sign-key [--sbom --provenance]` pushes the
# signature (and attestations, which verify) before the image,
# and the server's own builds are signed by its key, which it trusts.
# Outside the patterns nothing changes. A private key among trusted_keys is
# a configuration error.
. "$(dirname "$0")/lib.sh"

log "keys: ci (trusted) and rogue (not)"
for k in ci rogue; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$k.ec" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$WORK/$k.ec" -out "$WORK/$k.key"
  openssl ec -in "$WORK/$k.ec" -pubout -out "$WORK/$k.pub" 2>/dev/null
done
server_config() {
  printf 'builds:\n  allow_private_fetches: true\nregistry:\n  require_signed: ["prod/*"]\n' >"$WORK/server.yaml"
  printf '  trusted_keys: [%s]\n' "$1" >>"$WORK/server.yaml"
  [ -z "${2:-}" ] || printf '  unsigned_push: %s\n' "$2" >>"$WORK/server.yaml"
}

log "a private key among trusted_keys is refused at startup"
server_config "$WORK/ci.key"
set +e
"$DRYDOCK_BIN" serve --data "$WORK/bad-data" --listen 127.0.0.1:0 --config "$WORK/server.yaml" \
  >"$WORK/bad.out" 2>&1
code=$?
set -e
assert_ne 0 "$code" "drydock serve refuses the configuration"
assert_contains "$(cat "$WORK/bad.out")" "holds a private key" "it says why"

server_config "$WORK/ci.pub"
start_server --config "$WORK/server.yaml"
client_login
use_build_env
push_base base/busybox:1 v1
mkdir -p "$WORK/ctx"
printf 'FROM @REG@/base/busybox:1\nCOPY f /f\n' | dockerfile "$WORK/ctx/Dockerfile"
echo 1 >"$WORK/ctx/f"

log "outside prod/*: unsigned tags as before"
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --src-creds "admin:$ADMIN_PASS" \
  --dest-creds "admin:$ADMIN_PASS" "docker://$REG/base/busybox:1" "docker://$REG/dev/raw:1" ||
  fail "an unsigned push outside prod/* was refused"
ok "dev/raw:1 pushed unsigned"

log "prod/*, untagged mode: an unsigned image is stored by digest, its tag refused"
set +e
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --src-creds "admin:$ADMIN_PASS" \
  --dest-creds "admin:$ADMIN_PASS" "docker://$REG/base/busybox:1" "docker://$REG/prod/raw:1" \
  >"$WORK/skopeo.out" 2>&1
code=$?
set -e
assert_ne 0 "$code" "skopeo cannot tag an unsigned image in prod/raw"
assert_contains "$(cat "$WORK/skopeo.out")" "requires images signed by a trusted key" "skopeo shows the registry's reason"
# A build pushes by digest, then tags.
expect_build_failure ctx "is not: no signature" -t "$REG/prod/local:1" --push
UNSIGNED=$(grep -o 'and sha256:[0-9a-f]\{64\} is not' "$WORK/ctx.log" | head -n1 | cut -d' ' -f2)
[ -n "$UNSIGNED" ] || fail "the refusal names no digest: $(tail -n 3 "$WORK/ctx.log")"
req GET "/v2/prod/local/manifests/$UNSIGNED" "${ADMIN[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
assert_status 200 "$STATUS" "the unsigned image is stored by digest"
req GET "/v2/prod/local/manifests/1" "${ADMIN[@]}"
assert_status 404 "$STATUS" "but not tagged"
expect_build_failure ctx "does not verify with" -t "$REG/prod/local:1" --push --sign-key "$WORK/rogue.key"
DIGEST=$(build ctx -t "$REG/prod/local:1" --push --sign-key "$WORK/ci.key" --sbom --provenance)
assert_eq "$DIGEST" "$(digest_of prod/local:1)" "signed by the trusted key: tagged"
drydock verify "$REG/prod/local:1" --key "$WORK/ci.pub" --require-sbom --require-provenance \
  --insecure-registry "$REG" >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "prod/local:1 does not verify"; }
assert_eq 3 "$(grep -c '^ok ' "$WORK/verify.out")" "a local build's image, SBOM and provenance, signed"
assert_eq "" "$(drydock image provenance "$REG/prod/local:1" --insecure-registry "$REG" |
  jq -r '.predicate.buildDefinition.internalParameters.runId // empty')" "a local build names no run"

log "the server's own builds are signed by its key, which it trusts"
drydock build "$WORK/ctx" -t prod/served:1 >"$WORK/served.out" 2>&1 ||
  { tail -n 20 "$WORK/served.out" >&2; fail "a server build into prod/ failed"; }
drydock verify "$REG/prod/served:1" --key "$DATA/signing-key.pub" --insecure-registry "$REG" >/dev/null 2>&1 ||
  fail "prod/served:1 does not verify with the server's key"
ok "prod/served:1 tagged and signed"

log "refused mode: an unsigned image is not stored at all"
stop_server
server_config "$WORK/ci.pub" refused
FIXED_PORT=${REG##*:} start_server --config "$WORK/server.yaml"
echo 2 >"$WORK/ctx/f"
expect_build_failure ctx "requires images signed by a trusted key" -t "$REG/prod/strict:1" --push
UNSIGNED=$(grep -o 'and sha256:[0-9a-f]\{64\} is not' "$WORK/ctx.log" | head -n1 | cut -d' ' -f2)
[ -n "$UNSIGNED" ] || fail "the refusal names no digest: $(tail -n 3 "$WORK/ctx.log")"
req GET "/v2/prod/strict/manifests/$UNSIGNED" "${ADMIN[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
assert_status 404 "$STATUS" "the unsigned image was not stored by digest either"
DIGEST=$(build ctx -t "$REG/prod/strict:1" --push --sign-key "$WORK/ci.key")
assert_eq "$DIGEST" "$(digest_of prod/strict:1)" "the signed build: signature first, then image and tag"
req GET "/v2/prod/strict/referrers/$DIGEST" "${ADMIN[@]}"
assert_eq "application/vnd.dev.sigstore.bundle.v0.3+json" \
  "$(jq -r '[.manifests[].artifactType] | join(",")' <<<"$LAST_BODY")" "its signature is a referrer"
echo 3 >"$WORK/ctx/f"
DIGEST=$(build ctx -t "$REG/dev/any:1" --push)
assert_eq "$DIGEST" "$(digest_of dev/any:1)" "outside prod/*, unsigned as before"
ok "signed pushes"
