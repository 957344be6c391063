#!/usr/bin/env bash
# Authentication and authorization: Basic auth, the Docker token flow
# (/auth/token, HS256 JWTs), per-user grants, anonymous pull patterns,
# challenges, and skopeo with good and bad credentials.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/config.yaml" <<EOF
auth:
  anonymous_pull: ["public/*"]
EOF
DATA="$WORK/data"
READER_PASS="reader-$RANDOM-pw"
WRITER_PASS="writer-$RANDOM-pw"
# One user before the first start (the admin must still be created) and one
# while the server runs (it must see the new user at once).
"$DRYDOCK_BIN" user add reader --data "$DATA" -p "$READER_PASS" --grant 'auth/*=pull' >"$WORK/useradd.out" 2>&1 ||
  { cat "$WORK/useradd.out" >&2; fail "drydock user add reader"; }
ok "created user reader (grant auth/*=pull) before the first start"
start_server --config "$WORK/config.yaml"
req GET /v2/ "${ADMIN[@]}"
assert_status 200 "$STATUS" "admin created from DRYDOCK_ADMIN_PASSWORD although a user already existed"
"$DRYDOCK_BIN" user add writer --data "$DATA" -p "$WRITER_PASS" --grant 'team/*=pull,push' --grant 'auth/*=pull' \
  >"$WORK/useradd.out" 2>&1 || { cat "$WORK/useradd.out" >&2; fail "drydock user add writer"; }
ok "created user writer (team/*=pull,push, auth/*=pull) while the server runs"

jwt_claims() { # jwt_claims TOKEN: the decoded payload
  local p
  p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
  base64 -d <<<"$p"
}
token_for() { # token_for USER:PASS SCOPE -> token (empty creds: anonymous)
  local creds=()
  [ -n "$1" ] && creds=(-u "$1")
  req GET "/auth/token?service=drydock&scope=$2" "${creds[@]}"
  [ "$STATUS" = 200 ] || fail "token for '${1%%:*}' scope $2: HTTP $STATUS $LAST_BODY"
  jq -r .token <<<"$LAST_BODY"
}
actions_in() { jq -c --arg n "$2" '[.access[] | select(.type == "repository" and .name == $n) | .actions[]]' <<<"$1"; }

make_busybox_layout "$WORK/img" v1 "auth test" >"$WORK/img.digest"
IMG=$(cat "$WORK/img.digest")
push_layout "$WORK/img" v1 auth/app:v1
push_layout "$WORK/img" v1 public/app:v1
push_layout "$WORK/img" v1 private/app:v1
ok "admin pushed auth/app, public/app and private/app with skopeo"
REALM="http://$REG/auth/token"

log "anonymous requests"
req POST /v2/auth/app/blobs/uploads/
assert_status 401 "$STATUS" "anonymous push"
assert_eq UNAUTHORIZED "$(error_code)" "its error code"
assert_eq "Bearer realm=\"$REALM\",service=\"drydock\",scope=\"repository:auth/app:pull,push\"" \
  "$(header WWW-Authenticate)" "WWW-Authenticate on anonymous push"
req POST /v2/public/app/blobs/uploads/
assert_status 401 "$STATUS" "anonymous push to an anonymous-pull repository"
req GET /v2/auth/app/manifests/v1
assert_status 401 "$STATUS" "anonymous pull outside anonymous_pull"
assert_eq "Bearer realm=\"$REALM\",service=\"drydock\",scope=\"repository:auth/app:pull\"" \
  "$(header WWW-Authenticate)" "WWW-Authenticate on anonymous pull"
req GET /v2/public/app/manifests/v1
assert_status 200 "$STATUS" "anonymous pull of public/app (anonymous_pull: public/*)"
assert_eq "$IMG" "$(header Docker-Content-Digest)" "anonymously pulled digest"
req GET "/v2/public/app/blobs/$(jq -r .config.digest <<<"$LAST_BODY")"
assert_status 200 "$STATUS" "anonymous blob pull of public/app"
req GET /v2/public/app/tags/list
assert_status 200 "$STATUS" "anonymous tags/list of public/app"
req GET /v2/publicity/app/manifests/v1
assert_status 401 "$STATUS" "anonymous pull of publicity/app (pattern is public/*, not a prefix)"
req DELETE /v2/public/app/manifests/v1
assert_status 401 "$STATUS" "anonymous delete in public/app"
req GET /v2/_catalog
assert_status 401 "$STATUS" "anonymous catalog"
req GET /v2/
assert_status 401 "$STATUS" "anonymous GET /v2/"
assert_eq "Bearer realm=\"$REALM\",service=\"drydock\"" "$(header WWW-Authenticate)" "WWW-Authenticate on /v2/"

log "cross-repository mounts name the source's pull scope in the challenge"
req GET /v2/auth/app/manifests/v1 "${ADMIN[@]}" -H "Accept: application/vnd.oci.image.manifest.v1+json"
LAYER=$(jq -r '.layers[0].digest' <<<"$LAST_BODY")
req POST "/v2/auth/app/blobs/uploads/?mount=$LAYER&from=public/app"
assert_status 401 "$STATUS" "anonymous mount"
assert_eq "Bearer realm=\"$REALM\",service=\"drydock\",scope=\"repository:auth/app:pull,push repository:public/app:pull\"" \
  "$(header WWW-Authenticate)" "WWW-Authenticate on an anonymous mount"
WTOKEN=$(token_for "writer:$WRITER_PASS" "repository:team/mnt:pull,push")
req POST "/v2/team/mnt/blobs/uploads/?mount=$LAYER&from=auth/app" -H "Authorization: Bearer $WTOKEN"
assert_status 401 "$STATUS" "mount with a token that lacks the source"
assert_contains "$(header WWW-Authenticate)" "scope=\"repository:team/mnt:pull,push repository:auth/app:pull\"" \
  "the challenge names both scopes"
req GET "/auth/token?service=drydock&scope=repository:team/mnt:pull,push&scope=repository:auth/app:pull" \
  -u "writer:$WRITER_PASS"
WTOKEN=$(jq -r .token <<<"$LAST_BODY")
req POST "/v2/team/mnt/blobs/uploads/?mount=$LAYER&from=auth/app" -H "Authorization: Bearer $WTOKEN"
assert_status 201 "$STATUS" "mount with a token for both scopes"
WTOKEN=$(token_for "writer:$WRITER_PASS" "repository:team/mnt2:pull,push")
req POST "/v2/team/mnt2/blobs/uploads/?mount=$LAYER&from=private/app" -H "Authorization: Bearer $WTOKEN"
assert_status 202 "$STATUS" "mount from a repository the user cannot read is an ordinary upload"

log "wrong credentials"
req GET /v2/ -u "admin:not-the-password"
assert_status 401 "$STATUS" "GET /v2/ with a wrong password"
req GET /v2/public/app/manifests/v1 -u "admin:not-the-password"
assert_status 401 "$STATUS" "wrong password is refused even where anonymous pull works"
req GET "/auth/token?service=drydock&scope=repository:auth/app:pull" -u "admin:not-the-password"
assert_status 401 "$STATUS" "token with a wrong password"
req GET "/auth/token?service=drydock" -u "nobody:whatever-password"
assert_status 401 "$STATUS" "token for an unknown user"
req GET /v2/ -H "Authorization: Bearer not.a.jwt"
assert_status 401 "$STATUS" "garbage bearer token"

log "token flow (admin)"
TOKEN=$(token_for "admin:$ADMIN_PASS" "repository:auth/app:pull,push")
CLAIMS=$(jwt_claims "$TOKEN")
assert_eq '["pull","push"]' "$(actions_in "$CLAIMS" auth/app)" "admin token actions"
assert_eq "admin drydock" "$(jq -r '"\(.sub) \(.aud)"' <<<"$CLAIMS")" "token sub and aud"
assert_eq 900 "$(jq '.exp - .iat' <<<"$CLAIMS")" "token lifetime (default)"
req GET "/auth/token?service=drydock&scope=repository:auth/app:pull" "${ADMIN[@]}"
assert_eq 900 "$(jq .expires_in <<<"$LAST_BODY")" "expires_in"
assert_eq "$(jq -r .token <<<"$LAST_BODY")" "$(jq -r .access_token <<<"$LAST_BODY")" "token = access_token"
BEARER=(-H "Authorization: Bearer $TOKEN")
req GET /v2/auth/app/manifests/v1 "${BEARER[@]}"
assert_status 200 "$STATUS" "pull with the token"
req POST /v2/auth/app/blobs/uploads/ "${BEARER[@]}"
assert_status 202 "$STATUS" "push with the token"
req DELETE "$(header Location)" "${BEARER[@]}"
req POST /v2/private/app/blobs/uploads/ "${BEARER[@]}"
assert_status 401 "$STATUS" "push with the token to a repository outside its scope"
assert_contains "$(header WWW-Authenticate)" 'scope="repository:private/app:pull,push",error="insufficient_scope"' \
  "challenge for a token without the scope"
SIG=${TOKEN##*.}
FLIPPED="$( [ "${SIG:0:1}" = A ] && echo B || echo A)${SIG:1}"
req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer ${TOKEN%.*}.$FLIPPED"
assert_status 401 "$STATUS" "token with a tampered signature"
FORGED=$(jq -c '.access = [{type: "repository", name: "private/app", actions: ["pull", "push"]}]' <<<"$CLAIMS" |
  base64 -w0 | tr '+/' '-_' | tr -d '=')
req GET /v2/private/app/manifests/v1 -H "Authorization: Bearer $(cut -d. -f1 <<<"$TOKEN").$FORGED.$SIG"
assert_status 401 "$STATUS" "token with forged claims and the original signature"
PULL_ONLY=$(token_for "admin:$ADMIN_PASS" "repository:auth/app:pull")
req POST /v2/auth/app/blobs/uploads/ -H "Authorization: Bearer $PULL_ONLY"
assert_status 401 "$STATUS" "admin's pull-only token cannot push"
req POST /auth/token -d "grant_type=password&service=drydock&username=admin&password=$ADMIN_PASS&scope=repository:auth/app:pull"
assert_status 200 "$STATUS" "OAuth2 password grant (POST /auth/token)"
assert_eq '["pull"]' "$(actions_in "$(jwt_claims "$(jq -r .access_token <<<"$LAST_BODY")")" auth/app)" \
  "actions of the POSTed token"

log "pull-only user"
RTOKEN=$(token_for "reader:$READER_PASS" "repository:auth/app:pull,push")
assert_eq '["pull"]' "$(actions_in "$(jwt_claims "$RTOKEN")" auth/app)" "reader asked for pull,push, got"
req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer $RTOKEN"
assert_status 200 "$STATUS" "reader pulls with its token"
req POST /v2/auth/app/blobs/uploads/ -H "Authorization: Bearer $RTOKEN"
assert_status 401 "$STATUS" "reader pushes with its token"
put_manifest_as() { req PUT "/v2/$2/manifests/$3" "$1" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
  --data-binary "@$(layout_blob "$WORK/img" "$IMG")"; }
put_manifest_as "-ureader:$READER_PASS" auth/app v2
assert_status 403 "$STATUS" "reader pushes a manifest with Basic auth"
assert_eq DENIED "$(error_code)" "its error code"
req DELETE /v2/auth/app/manifests/v1 -u "reader:$READER_PASS"
assert_status 403 "$STATUS" "reader deletes"
req GET /v2/private/app/manifests/v1 -u "reader:$READER_PASS"
assert_status 403 "$STATUS" "reader pulls outside its grant"
RTOKEN2=$(token_for "reader:$READER_PASS" "repository:private/app:pull")
assert_eq '[]' "$(actions_in "$(jwt_claims "$RTOKEN2")" private/app)" "reader's token actions on private/app"
req GET /v2/_catalog -u "reader:$READER_PASS"
assert_status 200 "$STATUS" "reader lists the catalog"
assert_eq "auth/app,public/app" "$(jq -r '.repositories | join(",")' <<<"$LAST_BODY")" "catalog as reader (pullable only)"
req GET /v2/_catalog "${ADMIN[@]}"
assert_eq "auth/app,private/app,public/app,team/mnt" "$(jq -r '.repositories | join(",")' <<<"$LAST_BODY")" "catalog as admin"

log "user with push on team/*"
req POST /v2/team/app/blobs/uploads/ -u "writer:$WRITER_PASS"
assert_status 202 "$STATUS" "writer starts an upload in team/app"
req DELETE "$(header Location)" -u "writer:$WRITER_PASS"
assert_status 204 "$STATUS" "writer cancels it"
req POST /v2/auth/app/blobs/uploads/ -u "writer:$WRITER_PASS"
assert_status 403 "$STATUS" "writer pushes to auth/app (pull only there)"
WTOKEN=$(token_for "writer:$WRITER_PASS" "repository:team/app:pull,push,delete")
assert_eq '["pull","push"]' "$(actions_in "$(jwt_claims "$WTOKEN")" team/app)" "writer asked for pull,push,delete, got"
skopeo copy -q --dest-tls-verify=false --dest-creds "writer:$WRITER_PASS" "oci:$WORK/img:v1" \
  "docker://$REG/team/app:v1" >"$WORK/sk.out" 2>&1 || { cat "$WORK/sk.out" >&2; fail "skopeo copy as writer"; }
req HEAD /v2/team/app/manifests/v1 "${ADMIN[@]}"
assert_eq "$IMG" "$(header Docker-Content-Digest)" "image skopeo pushed as writer"
req DELETE /v2/team/app/manifests/v1 -u "writer:$WRITER_PASS"
assert_status 403 "$STATUS" "writer deletes (no delete grant)"

log "anonymous token"
ATOKEN=$(token_for "" "repository:public/app:pull,push")
assert_eq '["pull"]' "$(actions_in "$(jwt_claims "$ATOKEN")" public/app)" "anonymous token actions on public/app"
req GET /v2/public/app/manifests/v1 -H "Authorization: Bearer $ATOKEN"
assert_status 200 "$STATUS" "pull with the anonymous token"
req POST /v2/public/app/blobs/uploads/ -H "Authorization: Bearer $ATOKEN"
assert_status 401 "$STATUS" "push with the anonymous token"

log "skopeo with good, limited and wrong credentials"
SKO=(--tls-verify=false)
assert_eq "$IMG" "$(skopeo inspect "${SKO[@]}" --no-creds "docker://$REG/public/app:v1" | jq -r .Digest)" \
  "skopeo inspect public/app anonymously"
if skopeo inspect "${SKO[@]}" --no-creds "docker://$REG/auth/app:v1" >"$WORK/sk.out" 2>&1; then
  fail "skopeo inspect of auth/app succeeded anonymously"
fi
assert_contains "$(cat "$WORK/sk.out")" "unauthorized" "skopeo's error for anonymous inspect of auth/app"
if skopeo copy -q --dest-tls-verify=false --dest-creds "admin:wrong-password" "oci:$WORK/img:v1" \
  "docker://$REG/auth/app:wrong" >"$WORK/sk.out" 2>&1; then
  fail "skopeo copy with a wrong password succeeded"
fi
assert_contains "$(cat "$WORK/sk.out")" "unauthorized" "skopeo's error for a wrong password"
if skopeo copy -q --dest-tls-verify=false --dest-creds "reader:$READER_PASS" "oci:$WORK/img:v1" \
  "docker://$REG/auth/app:by-reader" >"$WORK/sk.out" 2>&1; then
  fail "skopeo copy as the pull-only reader succeeded"
fi
ok "skopeo copy as reader fails: $(tail -n 1 "$WORK/sk.out" | cut -c1-120)"
req GET /v2/auth/app/manifests/by-reader "${ADMIN[@]}"
assert_status 404 "$STATUS" "nothing was tagged by the refused pushes"
skopeo copy -q --src-tls-verify=false --src-creds "reader:$READER_PASS" "docker://$REG/auth/app:v1" \
  "oci:$WORK/out:v1" >"$WORK/sk.out" 2>&1 || { cat "$WORK/sk.out" >&2; fail "skopeo copy out as reader"; }
assert_eq "$IMG" "$(layout_digest "$WORK/out" v1)" "reader pulled auth/app:v1 with skopeo"

log "registry tokens are not API credentials (issue 12: a pull token queued a run that pushed)"
req GET /api/v1/runs -H "Authorization: Bearer $RTOKEN"
assert_status 401 "$STATUS" "the reader's registry token on /api/v1"
assert_contains "$LAST_BODY" "registry token" "the refusal names the token kind"
req POST /api/v1/runs -H "Authorization: Bearer $WTOKEN" -H 'Content-Type: application/json' \
  -d '{"type":"QuickBuild","source":"/dev/null","images":["team/zz:1"]}'
assert_status 401 "$STATUS" "a run queued with the writer's registry token"

log "API tokens: listed, revoked, and ended by password change, disable and delete"
api_token() { # api_token USER:PASS -> "ID TOKEN"
  req POST /api/v1/tokens -u "$1" -H 'Content-Type: application/json' -d '{"description":"test"}'
  [ "$STATUS" = 201 ] || fail "POST /api/v1/tokens as ${1%%:*}: HTTP $STATUS $LAST_BODY"
  jq -r '.id + " " + .token' <<<"$LAST_BODY"
}
read -r WID WAPI <<<"$(api_token "writer:$WRITER_PASS")"
req GET /api/v1/tokens -H "Authorization: Bearer $WAPI"
assert_status 200 "$STATUS" "writer lists its tokens with one"
assert_eq "$WID test" "$(jq -r '.tokens[] | .id + " " + .description' <<<"$LAST_BODY")" "the writer's token list"
assert_not_contains "$LAST_BODY" "$WAPI" "the token list (no secrets)"
assert_eq 0 "$(sqlite3 "$DATA/drydock.db" "SELECT count(*) FROM api_tokens WHERE secret_hash LIKE '%$WAPI%' OR secret_hash LIKE '%${WAPI:0:20}%'")" \
  "the token itself in the database"
req DELETE "/api/v1/tokens/$WID" -u "reader:$READER_PASS"
assert_status 404 "$STATUS" "reader revokes the writer's token"
req DELETE "/api/v1/tokens/$WID" -H "Authorization: Bearer $WAPI"
assert_status 200 "$STATUS" "writer revokes its own token"
req GET /api/v1/runs -H "Authorization: Bearer $WAPI"
assert_status 401 "$STATUS" "the revoked token"
assert_contains "$LAST_BODY" "revoked" "its error"

read -r _ WAPI2 <<<"$(api_token "writer:$WRITER_PASS")"
req GET /v2/team/app/tags/list -H "Authorization: Bearer $WTOKEN"
assert_status 200 "$STATUS" "the writer's registry token before the password change"
req GET /v2/team/app/tags/list -u "writer:$WRITER_PASS"
assert_status 200 "$STATUS" "the writer's password before the change"
sleep 1.1 # token times have 1 s resolution
NEW_PASS="writer-new-$RANDOM-pw"
"$DRYDOCK_BIN" user add writer --data "$DATA" -p "$NEW_PASS" --grant 'team/*=pull,push' --grant 'auth/*=pull' \
  >"$WORK/useradd.out" 2>&1 || { cat "$WORK/useradd.out" >&2; fail "drydock user add writer (new password)"; }
req GET /api/v1/runs -H "Authorization: Bearer $WAPI2"
assert_status 401 "$STATUS" "an API token after its user's password changed (offline, server running)"
req GET /v2/team/app/tags/list -H "Authorization: Bearer $WTOKEN"
assert_status 401 "$STATUS" "a registry token after its user's password changed"
req GET /v2/team/app/tags/list -u "writer:$WRITER_PASS"
assert_status 401 "$STATUS" "the old password (cached by the server a moment ago)"
req GET /v2/team/app/tags/list -u "writer:$NEW_PASS"
assert_status 200 "$STATUS" "the new password"

read -r _ WAPI3 <<<"$(api_token "writer:$NEW_PASS")"
"$DRYDOCK_BIN" user disable writer --data "$DATA" >"$WORK/userdis.out" 2>&1 || fail "drydock user disable: $(cat "$WORK/userdis.out")"
req GET /v2/team/app/tags/list -u "writer:$NEW_PASS"
assert_status 401 "$STATUS" "a disabled user's password"
assert_contains "$LAST_BODY" "disabled" "its error"
req GET /api/v1/runs -H "Authorization: Bearer $WAPI3"
assert_status 401 "$STATUS" "a disabled user's API token"
"$DRYDOCK_BIN" user enable writer --data "$DATA" >/dev/null 2>&1 || fail "drydock user enable"
req GET /v2/team/app/tags/list -u "writer:$NEW_PASS"
assert_status 200 "$STATUS" "enabled again"
req GET /api/v1/runs -H "Authorization: Bearer $WAPI3"
assert_status 401 "$STATUS" "tokens revoked by disabling stay revoked"
"$DRYDOCK_BIN" user delete writer --data "$DATA" >/dev/null 2>&1 || fail "drydock user delete"
req GET /v2/team/app/tags/list -u "writer:$NEW_PASS"
assert_status 401 "$STATUS" "a deleted user"
if "$DRYDOCK_BIN" user delete writer --data "$DATA" >"$WORK/userdel.out" 2>&1; then fail "deleting a missing user succeeded"; fi
assert_contains "$(cat "$WORK/userdel.out")" "not found" "deleting a missing user"

log "drydock token list|revoke, on the client's own login"
client_login
"$DRYDOCK_BIN" token list -o json >"$WORK/tokens.json" 2>"$WORK/tokens.err" ||
  fail "drydock token list: $(cat "$WORK/tokens.err")"
LOGIN_ID=$(jq -r '[.[] | select(.description | startswith("drydock login on"))][0].id' "$WORK/tokens.json")
[ -n "$LOGIN_ID" ] && [ "$LOGIN_ID" != null ] || fail "no token of drydock login in $(cat "$WORK/tokens.json")"
assert_contains "$("$DRYDOCK_BIN" token list 2>&1)" "$LOGIN_ID" "the token table"
"$DRYDOCK_BIN" token revoke "$LOGIN_ID" >"$WORK/revoke.out" 2>&1 || fail "drydock token revoke: $(cat "$WORK/revoke.out")"
assert_contains "$(cat "$WORK/revoke.out")" "revoked" "drydock token revoke"
if "$DRYDOCK_BIN" token list >"$WORK/after.out" 2>&1; then fail "drydock token list worked with a revoked login"; fi
assert_contains "$(cat "$WORK/after.out")" "revoked" "the client's error after its token was revoked"

log "failed sign-ins are throttled (429 with Retry-After), unknown users cost a bcrypt too"
for i in $(seq 1 10); do
  req GET /v2/ -u "reader:wrong-$i"
  [ "$STATUS" = 401 ] || fail "wrong password $i: HTTP $STATUS"
done
req GET /v2/ -u "reader:$READER_PASS"
assert_status 429 "$STATUS" "the right password after 10 failures in the window"
[ "$(header Retry-After)" -gt 0 ] || fail "Retry-After '$(header Retry-After)'"
ok "Retry-After: $(header Retry-After)"
req GET /api/v1/runs -u "reader:$READER_PASS"
assert_status 429 "$STATUS" "the API answers 429 too"
req GET /v2/ "${ADMIN[@]}"
assert_status 200 "$STATUS" "another user from the same address"
t_known=$(curl -s -o /dev/null -w '%{time_total}' -u "admin:wrong" "$URL/v2/")
t_unknown=$(curl -s -o /dev/null -w '%{time_total}' -u "nobody-$RANDOM:wrong" "$URL/v2/")
awk -v k="$t_known" -v u="$t_unknown" 'BEGIN { exit !(u > k / 3 && k > u / 3) }' ||
  fail "wrong password: ${t_known}s for admin, ${t_unknown}s for an unknown user"
ok "wrong password: ${t_known}s for admin, ${t_unknown}s for an unknown user"

log "token expiry (restart with auth.token_ttl_seconds: 1)"
stop_server
echo "  token_ttl_seconds: 1" >>"$WORK/config.yaml"
start_server --config "$WORK/config.yaml"
SHORT=$(token_for "admin:$ADMIN_PASS" "repository:auth/app:pull")
assert_eq 1 "$(jq '.exp - .iat' <<<"$(jwt_claims "$SHORT")")" "token lifetime from the config"
req GET /v2/auth/app/manifests/v1 "${BEARER[@]}"
assert_status 200 "$STATUS" "a token from before the restart still works (the signing key persists)"
sleep 2.2
req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer $SHORT"
assert_status 401 "$STATUS" "pull with a token past its 1 s lifetime"
assert_contains "$LAST_BODY" "expired" "error message"
