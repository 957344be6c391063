#!/usr/bin/env bash
# The REST API (/api/v1/, docs/api.md) against a real `drydock serve`: API
# tokens (as Basic password, as Bearer, and for skopeo on /v2/), context
# uploads, quick builds followed live through the chunked log, run listing
# and cancel, permissions, the context size limit, and repositories.
. "$(dirname "$0")/lib.sh"

# A webhook receiver (busybox httpd + CGI) records events, to see that API
# deletes publish them as /v2/ deletes do.
HOOK_PORT=$(free_port)
mkdir -p "$WORK/www/cgi-bin"
cat >"$WORK/www/cgi-bin/hook" <<EOF
#!/bin/sh
head -c "\${CONTENT_LENGTH:-0}" >>"$WORK/hook.events"
echo >>"$WORK/hook.events"
printf 'Content-Type: text/plain\r\n\r\nok\n'
EOF
chmod +x "$WORK/www/cgi-bin/hook"
busybox httpd -f -p "127.0.0.1:$HOOK_PORT" -h "$WORK/www" &
BG_PIDS+=($!)

CONTEXT_LIMIT=1048576
cat >"$WORK/config.yaml" <<EOF
builds:
  allow_private_fetches: true  # the test's git and tarball servers are on loopback
  concurrency: 2
  state_dir: $WORK/build-state
  max_context_bytes: $CONTEXT_LIMIT
notifications:
  - url: http://127.0.0.1:$HOOK_PORT/cgi-bin/hook
EOF
DATA="$WORK/data"
ALICE_PASS="alice-$RANDOM-pw"
BOB_PASS="bob-$RANDOM-pw"
CAROL_PASS="carol-$RANDOM-pw"
add_user() { # add_user NAME PASSWORD [--grant G]...
  local name=$1 pass=$2
  shift 2
  "$DRYDOCK_BIN" user add "$name" --data "$DATA" -p "$pass" "$@" >"$WORK/useradd.out" 2>&1 ||
    { cat "$WORK/useradd.out" >&2; fail "drydock user add $name"; }
}
add_user alice "$ALICE_PASS" --grant 'team/*=pull,push,delete' --grant 'base/*=pull'
add_user bob "$BOB_PASS" --grant 'bobs/*=pull,push' --grant 'base/*=pull'
add_user carol "$CAROL_PASS"
start_server --config "$WORK/config.yaml"
ALICE=(-u "alice:$ALICE_PASS")
BOB=(-u "bob:$BOB_PASS")
JSON=(-H 'Content-Type: application/json')
api_error() { jq -r '.error.code // empty' <<<"$LAST_BODY" 2>/dev/null || true; }

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
BASE_DIGEST=$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/base/busybox:1" | jq -r .Digest)
ok "base image base/busybox:1 is $BASE_DIGEST"

log "tokens"
req POST /api/v1/tokens
assert_status 401 "$STATUS" "anonymous POST /api/v1/tokens"
assert_eq 'Basic realm="drydock"' "$(header WWW-Authenticate)" "challenge"
assert_eq UNAUTHORIZED "$(api_error)" "error code"
req POST /api/v1/tokens -u "alice:wrong-password"
assert_status 401 "$STATUS" "token with a wrong password"
req POST /api/v1/tokens "${ALICE[@]}"
assert_status 201 "$STATUS" "token for alice"
TOKEN=$(jq -r .token <<<"$LAST_BODY")
assert_eq alice "$(jq -r .user <<<"$LAST_BODY")" "token user"
EXPIRES=$(date -d "$(jq -r .expiresAt <<<"$LAST_BODY")" +%s)
DAYS=$(((EXPIRES - $(date +%s) + 3600) / 86400))
assert_eq 30 "$DAYS" "token lifetime in days"
req GET /api/v1/runs -H "Authorization: Bearer $TOKEN"
assert_status 200 "$STATUS" "token as Bearer"
req GET /api/v1/runs -u "alice:$TOKEN"
assert_status 200 "$STATUS" "token as the Basic password"
req GET /api/v1/runs -u "bob:$TOKEN"
assert_status 401 "$STATUS" "alice's token as bob's password"
req POST /api/v1/tokens -H "Authorization: Bearer $TOKEN"
assert_status 401 "$STATUS" "a token cannot issue tokens"
req GET /v2/base/busybox/tags/list -H "Authorization: Bearer $TOKEN"
assert_status 200 "$STATUS" "token as Bearer on /v2/"
assert_eq "$BASE_DIGEST" \
  "$(skopeo inspect --tls-verify=false --creds "alice:$TOKEN" "docker://$REG/base/busybox:1" | jq -r .Digest)" \
  "skopeo inspect --creds alice:TOKEN"
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --src-creds "alice:$TOKEN" \
  --dest-creds "alice:$TOKEN" "docker://$REG/base/busybox:1" "docker://$REG/team/copied:1" ||
  fail "skopeo copy with alice's token"
ok "skopeo pushed team/copied:1 with --dest-creds alice:TOKEN"
if skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --src-creds "alice:$TOKEN" \
  --dest-creds "alice:$TOKEN" "docker://$REG/base/busybox:1" "docker://$REG/bobs/x:1" 2>/dev/null; then
  fail "alice's token pushed to bobs/x"
fi
ok "alice's token cannot push where alice cannot"
AUTH=(-H "Authorization: Bearer $TOKEN")

log "anonymous, ungranted and malformed requests"
req GET /api/v1/runs
assert_status 401 "$STATUS" "anonymous GET /api/v1/runs"
req GET /api/v1/runs -u "carol:$CAROL_PASS"
assert_status 403 "$STATUS" "a user without grants lists runs"
assert_eq DENIED "$(api_error)" "error code"
req GET /api/v1/nothing "${AUTH[@]}"
assert_status 404 "$STATUS" "unknown endpoint"
req DELETE /api/v1/runs "${AUTH[@]}"
assert_status 405 "$STATUS" "DELETE /api/v1/runs"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"source": '
assert_status 400 "$STATUS" "malformed JSON"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"images": ["team/app:x"]}'
assert_status 400 "$STATUS" "no source"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" "source" "its message"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"source": "/dev/null", "timeout": 10}'
assert_status 400 "$STATUS" "timeout below 300"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" "must be between 300 and 28800" "its message"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"source": "/dev/null", "buildArgs": [{"name": "A=B", "value": "x"}]}'
assert_status 400 "$STATUS" "a build-argument name holding '='"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" "build argument name 'A=B'" "its message"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"source": "/dev/null", "images": ["team/App:x"]}'
assert_status 400 "$STATUS" "invalid image name"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary '{"source": "/dev/null", "noCache": "yes"}'
assert_status 400 "$STATUS" "noCache of the wrong type"
req GET '/api/v1/runs?status=Bogus' "${AUTH[@]}"
assert_status 400 "$STATUS" "unknown status filter"
req GET '/api/v1/runs?top=0' "${AUTH[@]}"
assert_status 400 "$STATUS" "top=0"
req GET '/api/v1/runs?trigger=Push' "${AUTH[@]}"
assert_status 400 "$STATUS" "unknown trigger filter"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" "unknown trigger Push" "its message"
req GET '/api/v1/runs?createdAfter=yesterday' "${AUTH[@]}"
assert_status 400 "$STATUS" "createdAfter that is no time"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" '"yesterday" is not a UTC time' "its message"
req GET /api/v1/runs/cz999 "${AUTH[@]}"
assert_status 404 "$STATUS" "unknown run"
assert_eq NOT_FOUND "$(api_error)" "error code"

log "contexts"
# upload_context DIR: packs DIR with tar and uploads it; sets CTX_ID.
upload_context() {
  tar -czf "$WORK/ctx.tgz" -C "$1" .
  req POST /api/v1/contexts "${AUTH[@]}" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$WORK/ctx.tgz"
  [ "$STATUS" = 201 ] || fail "context upload of $1: HTTP $STATUS $LAST_BODY"
  CTX_ID=$(jq -r .id <<<"$LAST_BODY")
}
mkdir -p "$WORK/app"
echo "from the context" >"$WORK/app/greeting.txt"
cat >"$WORK/app/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1
ARG VERSION=0
ARG SECRET_TOKEN
COPY greeting.txt /greeting.txt
RUN echo "first-marker-\$VERSION" && echo "token-is-\$SECRET_TOKEN" && sleep 3 && echo "second-marker-\$VERSION"
DOCKERFILE
upload_context "$WORK/app"
assert_ne "" "$CTX_ID" "context id"
assert_eq "$(stat -c %s "$WORK/ctx.tgz")" "$(jq -r .size <<<"$LAST_BODY")" "context size"
assert_eq "sha256:$(sha256_of "$WORK/ctx.tgz")" "$(jq -r .digest <<<"$LAST_BODY")" "context digest"

head -c $((CONTEXT_LIMIT + 4096)) /dev/urandom >"$WORK/big.bin"
req POST /api/v1/contexts "${AUTH[@]}" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/big.bin"
assert_status 413 "$STATUS" "context over the limit (Content-Length)"
assert_eq TOO_LARGE "$(api_error)" "error code"
STATUS=$(curl -sS -o "$WORK/.big.out" -w '%{http_code}' "${AUTH[@]}" -H 'Transfer-Encoding: chunked' \
  -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/big.bin" "$URL/api/v1/contexts" 2>/dev/null) || true
case "$STATUS" in
  413 | 000) ok "context over the limit (chunked) refused (HTTP $STATUS: 000 is a cut connection)" ;;
  *) fail "chunked context over the limit: HTTP $STATUS $(cat "$WORK/.big.out")" ;;
esac
req GET /healthz
assert_status 200 "$STATUS" "server healthy after oversized uploads"
req POST /api/v1/contexts -u "carol:$CAROL_PASS" --data-binary "@$WORK/ctx.tgz"
assert_status 403 "$STATUS" "upload by a user without grants"

log "a quick build, its log followed live"
req POST /api/v1/runs "${BOB[@]}" "${JSON[@]}" \
  --data-binary "$(jq -cn --arg s "context:$CTX_ID" '{source: $s, images: ["team/app:x"]}')"
assert_status 403 "$STATUS" "bob queues a build pushing to team/"
assert_contains "$(jq -r .error.message <<<"$LAST_BODY")" "team/app" "its message"
SECRET="s3cr3t-$RANDOM$RANDOM"
BODY=$(jq -cn --arg s "context:$CTX_ID" --arg secret "$SECRET" --arg reg "$REG" '{
  type: "QuickBuild", source: $s, dockerfile: "Dockerfile",
  images: ["team/app:{{.Run.ID}}", "team/app:latest", ($reg + "/team/app:explicit")],
  buildArgs: [{name: "VERSION", value: "1.0", isSecret: false},
              {name: "SECRET_TOKEN", value: $secret, isSecret: true}],
  platform: "linux/amd64", timeout: 600, gitToken: "git-secret-value"}')
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" --data-binary "$BODY"
assert_status 201 "$STATUS" "POST /api/v1/runs"
RUN1=$(jq -r .runId <<<"$LAST_BODY")
assert_contains "Queued Started Running" "$(jq -r .status <<<"$LAST_BODY")" "status of a new run"
assert_eq QuickBuild "$(jq -r .runType <<<"$LAST_BODY")" "runType"
assert_eq linux/amd64 "$(jq -r '.platform.os + "/" + .platform.architecture' <<<"$LAST_BODY")" "platform"
assert_not_contains "$LAST_BODY" "$SECRET" "the new run record"
assert_not_contains "$LAST_BODY" "git-secret-value" "the new run record"

curl -sS -N -D "$WORK/follow.hdr" "${AUTH[@]}" "$URL/api/v1/runs/$RUN1/log?follow=true" \
  >"$WORK/follow.log" 2>"$WORK/follow.err" &
FOLLOW_PID=$!
BG_PIDS+=("$FOLLOW_PID")
# Streaming means the first line arrives while the step still sleeps (the
# markers end in the build arg's value: the RUN line itself does not match).
for _ in $(seq 1 1200); do
  grep -q first-marker-1.0 "$WORK/follow.log" 2>/dev/null && break
  kill -0 "$FOLLOW_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q first-marker-1.0 "$WORK/follow.log" || fail "the followed log never showed first-marker: $(tail -n 5 "$WORK/follow.log")"
if grep -q second-marker-1.0 "$WORK/follow.log"; then
  fail "first-marker arrived only with second-marker: the log was not streamed"
fi
ok "the followed log showed the RUN's first line while it was still running"
for _ in $(seq 1 2400); do
  kill -0 "$FOLLOW_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$FOLLOW_PID" 2>/dev/null && fail "following the log did not end with the run"
wait "$FOLLOW_PID" || fail "curl following the log failed: $(cat "$WORK/follow.err")"
ok "following the log ended with the run"
assert_eq chunked "$(tr -d '\r' <"$WORK/follow.hdr" | awk -F': ' 'tolower($1) == "transfer-encoding" { print $2 }')" \
  "Transfer-Encoding of the followed log"
LAST_LINE=$(grep -v '^[[:space:]]*$' "$WORK/follow.log" | tail -n 1)
assert_contains "$LAST_LINE" "Run ID: $RUN1 was successful after" "last line of the log"
assert_contains "$(cat "$WORK/follow.log")" "token-is-" "the log"
assert_not_contains "$(cat "$WORK/follow.log")" "$SECRET" "the log"
assert_contains "$(cat "$WORK/follow.log")" "second-marker-1.0" "the log"

req GET "/api/v1/runs/$RUN1" "${AUTH[@]}"
assert_status 200 "$STATUS" "GET the run"
RECORD=$LAST_BODY
assert_eq Succeeded "$(jq -r .status <<<"$RECORD")" "final status"
assert_not_contains "$RECORD" "$SECRET" "the final run record"
assert_not_contains "$RECORD" "git-secret-value" "the final run record"
for f in createTime startTime finishTime; do
  [[ "$(jq -r ".$f" <<<"$RECORD")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || fail "$f: $(jq -r ".$f" <<<"$RECORD")"
done
ok "createTime, startTime and finishTime are RFC 3339"
assert_eq "$RUN1 explicit latest" "$(jq -r '[.outputImages[].tag] | sort | join(" ")' <<<"$RECORD")" \
  "output tags ({{.Run.ID}} expanded)"
assert_eq "$REG" "$(jq -r '[.outputImages[].registry] | unique | join(" ")' <<<"$RECORD")" \
  "output registry (unqualified names got the server's)"
assert_eq team/app "$(jq -r '[.outputImages[].repository] | unique | join(" ")' <<<"$RECORD")" "output repository"
PUSHED=$(skopeo inspect --tls-verify=false --creds "alice:$TOKEN" "docker://$REG/team/app:$RUN1" | jq -r .Digest)
assert_eq "$PUSHED" "$(jq -r --arg t "$RUN1" '.outputImages[] | select(.tag == $t) | .digest' <<<"$RECORD")" \
  "outputImages digest = skopeo's"
assert_eq "$PUSHED" "$(skopeo inspect --tls-verify=false --creds "alice:$TOKEN" "docker://$REG/team/app:latest" | jq -r .Digest)" \
  "team/app:latest"
assert_not_contains "$(config_of "team/app:$RUN1")" "$SECRET" "the image config"
req GET "/api/v1/runs/$RUN1/log" "${AUTH[@]}"
assert_status 200 "$STATUS" "GET the whole log"
save_body "$WORK/whole.log"
assert_same_bytes "$WORK/follow.log" "$WORK/whole.log" "the log read afterwards and the followed one"
req GET "/api/v1/runs/$RUN1/log?offset=5" "${AUTH[@]}"
save_body "$WORK/tail.log"
tail -c +6 "$WORK/follow.log" >"$WORK/follow-tail.log"
assert_same_bytes "$WORK/follow-tail.log" "$WORK/tail.log" "the log from offset 5"
req GET "/api/v1/runs/$RUN1/log?offset=-1" "${AUTH[@]}"
assert_status 400 "$STATUS" "a negative offset"
req GET "/api/v1/runs/$RUN1" "${BOB[@]}"
assert_status 403 "$STATUS" "bob reads alice's run on team/"
req GET "/api/v1/runs/$RUN1/log" "${BOB[@]}"
assert_status 403 "$STATUS" "bob reads its log"
req POST "/api/v1/runs/$RUN1/cancel" "${AUTH[@]}"
assert_status 409 "$STATUS" "cancel a finished run"
assert_eq CONFLICT "$(api_error)" "error code"

log "cancel"
mkdir -p "$WORK/slow"
printf 'FROM %s/base/busybox:1\nRUN echo sleeping && sleep 60\n' "$REG" >"$WORK/slow/Dockerfile"
upload_context "$WORK/slow"
req POST /api/v1/runs "${AUTH[@]}" "${JSON[@]}" \
  --data-binary "$(jq -cn --arg s "context:$CTX_ID" '{source: $s, images: ["team/slow:1"]}')"
assert_status 201 "$STATUS" "queue a slow run"
RUN2=$(jq -r .runId <<<"$LAST_BODY")
for _ in $(seq 1 600); do
  req GET "/api/v1/runs/$RUN2/log" "${AUTH[@]}"
  case "$LAST_BODY" in *sleeping*) break ;; esac
  sleep 0.1
done
assert_contains "$LAST_BODY" sleeping "the slow run's log"
req POST "/api/v1/runs/$RUN2/cancel" "${BOB[@]}"
assert_status 403 "$STATUS" "bob cancels alice's run"
req POST "/api/v1/runs/$RUN2/cancel" "${AUTH[@]}"
assert_status 202 "$STATUS" "cancel the running run"
assert_eq "$RUN2" "$(jq -r .runId <<<"$LAST_BODY")" "the cancel reply is the record"
for _ in $(seq 1 300); do
  req GET "/api/v1/runs/$RUN2" "${AUTH[@]}"
  [ "$(jq -r .status <<<"$LAST_BODY")" = Canceled ] && break
  sleep 0.1
done
assert_eq Canceled "$(jq -r .status <<<"$LAST_BODY")" "status after cancel"
req GET "/api/v1/runs/$RUN2/log?follow=true" "${AUTH[@]}" --max-time 30
assert_contains "$LAST_BODY" "was canceled" "the canceled run's log"
req POST "/api/v1/runs/$RUN2/cancel" "${AUTH[@]}"
assert_status 409 "$STATUS" "cancel it again"

log "list filters"
req GET /api/v1/runs "${AUTH[@]}"
assert_status 200 "$STATUS" "list runs"
assert_eq "$RUN2 $RUN1" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "runs, newest first"
req GET '/api/v1/runs?top=1' "${AUTH[@]}"
assert_eq "$RUN2" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "top=1"
req GET '/api/v1/runs?status=Succeeded' "${AUTH[@]}"
assert_eq "$RUN1" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "status=Succeeded"
req GET '/api/v1/runs?status=Canceled' "${AUTH[@]}"
assert_eq "$RUN2" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "status=Canceled"
req GET "/api/v1/runs?image=team/app:$RUN1" "${AUTH[@]}"
assert_eq "$RUN1" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "image=team/app:$RUN1"
req GET '/api/v1/runs?image=team/none:1' "${AUTH[@]}"
assert_eq "" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "image of no run"
req GET '/api/v1/runs?trigger=Manual&top=1' "${AUTH[@]}"
assert_eq "$RUN2" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "trigger=Manual"
req GET '/api/v1/runs?trigger=Timer' "${AUTH[@]}"
assert_eq "" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "trigger=Timer: none"
req GET "/api/v1/runs?createdAfter=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" "${AUTH[@]}"
assert_eq "$RUN2 $RUN1" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "created in the last hour"
req GET "/api/v1/runs?createdAfter=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S.250Z)" "${AUTH[@]}"
assert_eq "" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "created after an hour from now: none"
req GET /api/v1/runs "${BOB[@]}"
assert_eq "" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "bob sees none of alice's runs"
req GET /api/v1/runs "${ADMIN[@]}"
assert_eq "$RUN2 $RUN1" "$(jq -r '[.runs[].runId] | join(" ")' <<<"$LAST_BODY")" "the admin sees every run"

log "repositories"
push_layout "$WORK/base" 1 bobs/thing:1
req GET /api/v1/repositories "${AUTH[@]}"
assert_status 200 "$STATUS" "list repositories"
assert_eq "base/busybox team/app team/copied" "$(jq -r '.repositories | join(" ")' <<<"$LAST_BODY")" \
  "alice's repositories (not bobs/thing; team/slow was never pushed)"
req GET /api/v1/repositories/team/app/tags "${AUTH[@]}"
assert_status 200 "$STATUS" "tags of team/app"
assert_eq team/app "$(jq -r .repository <<<"$LAST_BODY")" "repository"
assert_eq "$RUN1 explicit latest" "$(jq -r '[.tags[].name] | sort | join(" ")' <<<"$LAST_BODY")" "tag names"
assert_eq "$PUSHED" "$(jq -r '[.tags[].digest] | unique | join(" ")' <<<"$LAST_BODY")" "tag digests"
req GET /api/v1/repositories/bobs/thing/tags "${AUTH[@]}"
assert_status 403 "$STATUS" "tags of a repository alice cannot pull"
req GET /api/v1/repositories/team/none/tags "${AUTH[@]}"
assert_status 404 "$STATUS" "tags of a missing repository"
req DELETE /api/v1/repositories/base/busybox "${AUTH[@]}"
assert_status 403 "$STATUS" "alice deletes base/busybox (pull only)"
req DELETE /api/v1/repositories/team/app/tags/latest "${AUTH[@]}"
assert_status 202 "$STATUS" "delete tag latest"
assert_eq latest "$(jq -r .deleted <<<"$LAST_BODY")" "deleted tag"
req DELETE /api/v1/repositories/team/app/tags/latest "${AUTH[@]}"
assert_status 404 "$STATUS" "delete it again"
req GET /v2/team/app/manifests/latest "${ADMIN[@]}"
assert_status 404 "$STATUS" "/v2/ after deleting the tag"
req GET /v2/team/app/manifests/explicit "${ADMIN[@]}"
assert_status 200 "$STATUS" "the other tags stay"
# The image's attestations (SBOM, provenance, signatures, theirs) are manifests of the repository too.
referrers_of() {
  local d
  for d in $(curl -sS "${ADMIN[@]}" "$URL/v2/team/app/referrers/$1" | jq -r '.manifests[].digest'); do
    echo "$d"
    referrers_of "$d"
  done
}
ATTACHED=$(referrers_of "$PUSHED")
assert_eq 5 "$(wc -w <<<"$ATTACHED")" "the image's SBOM, provenance and three signatures"
req DELETE /api/v1/repositories/team/app "${AUTH[@]}"
assert_status 202 "$STATUS" "delete repository team/app"
assert_eq "$(printf '%s\n' "$PUSHED" $ATTACHED | sort | xargs)" "$(jq -r '.deleted | sort | join(" ")' <<<"$LAST_BODY")" \
  "deleted manifests: the image and its attestations"
req GET /v2/team/app/manifests/explicit "${ADMIN[@]}"
assert_status 404 "$STATUS" "/v2/ after deleting the repository"
req GET /api/v1/repositories "${AUTH[@]}"
assert_eq "base/busybox team/copied" "$(jq -r '.repositories | join(" ")' <<<"$LAST_BODY")" \
  "repositories after the delete"
req GET /api/v1/repositories/team/app/tags "${AUTH[@]}"
assert_status 404 "$STATUS" "tags of the deleted repository"
req DELETE /api/v1/repositories/team/app "${AUTH[@]}"
assert_status 404 "$STATUS" "delete it again"
# delete_events: "tag digest actor" of each team/app delete the webhook got.
delete_events() {
  jq -r 'select(.events) | .events[] | select(.action == "delete" and .target.repository == "team/app")
    | "\(.target.tag // "-") \(.target.digest) \(.actor.name)"' "$WORK/hook.events" 2>/dev/null | sort
}
for _ in $(seq 1 100); do
  [ "$(delete_events | wc -l)" -ge 9 ] && break
  sleep 0.1
done
# The image (untagged, then each tag) and each of its five attestations.
assert_eq "$({ printf '%s\n' "- $PUSHED alice" "$RUN1 $PUSHED alice" "explicit $PUSHED alice" "latest $PUSHED alice"
  for d in $ATTACHED; do echo "- $d alice"; done; } | sort)" "$(delete_events)" "delete events sent to the webhook"

stop_server
