#!/usr/bin/env bash
# Quick builds end to end, through the client: `drydock login`, `drydock
# build` (no --local) from a local directory, a git repository served by
# `git daemon` (#branch, #tag, #pull/N/head, :subfolder), a private one
# behind `git http-backend` needing DRYDOCK_GIT_TOKEN, a tarball served by
# busybox httpd, an oci:// artifact and /dev/null; `drydock run list|show|logs|cancel`, `drydock
# repository list|show-tags|delete`; concurrent builds, a failing build,
# --no-wait, --no-logs, and bad input that must fail clearly while the
# server stays healthy.
. "$(dirname "$0")/lib.sh"

# The client keeps its login under $XDG_CONFIG_HOME: never the machine's.
export XDG_CONFIG_HOME="$WORK/config"
unset DRYDOCK_SERVER DRYDOCK_USER DRYDOCK_PASSWORD DRYDOCK_GIT_TOKEN

start_server
make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
BASE="$REG/base/busybox:1"


# qb NAME [drydock build args...]: a server build that must succeed; its
# stdout and stderr land in $WORK/NAME.out and $WORK/NAME.err.
qb() {
  local name=$1
  shift
  drydock build "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { tail -n 30 "$WORK/$name.out" "$WORK/$name.err" >&2; fail "drydock build ($name) failed"; }
}

# qb_fails NAME [args...]: a build that must fail; sets OUT (stdout+stderr).
qb_fails() {
  local name=$1
  shift
  if drydock build "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    tail -n 30 "$WORK/$name.out" "$WORK/$name.err" >&2
    fail "drydock build ($name) succeeded but should have failed"
  fi
  OUT=$(cat "$WORK/$name.out" "$WORK/$name.err")
  ok "$name: drydock build exits non-zero"
}

run_id() { sed -n 's/^Queued a build with ID: //p' "$WORK/$1.err"; }
# pushed NAME REF: the digest the build printed for REF ("REG/REF@sha256:…").
pushed() { sed -n "s|^$REG/$2@||p" "$WORK/$1.out"; }
healthy() {
  assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" "server healthy ($1)"
}
# wait_status ID STATUS SECONDS
wait_status() {
  local s=""
  for _ in $(seq 1 $(($3 * 4))); do
    s=$(run_field "$1" .status)
    [ "$s" = "$2" ] && return 0
    sleep 0.25
  done
  fail "run $1 is $s, not $2, after $3 s"
}

log "login"
if printf 'wrong' | drydock login "$REG" -u admin --password-stdin >"$WORK/login.out" 2>&1; then
  fail "login with a wrong password succeeded"
fi
ok "login with a wrong password fails: $(head -n1 "$WORK/login.out")"
[ ! -e "$XDG_CONFIG_HOME/drydock/config.json" ] || fail "a failed login wrote the config"
if drydock run list >"$WORK/nologin.out" 2>&1; then fail "run list without a login succeeded"; fi
assert_contains "$(cat "$WORK/nologin.out")" "drydock login" "run list before any login"
printf '%s' "$ADMIN_PASS" | drydock login "$REG" -u admin --password-stdin >"$WORK/login.out" 2>&1 ||
  { cat "$WORK/login.out" >&2; fail "drydock login failed"; }
assert_contains "$(cat "$WORK/login.out")" "Login Succeeded" "login"
CONFIG="$XDG_CONFIG_HOME/drydock/config.json"
assert_eq 600 "$(stat -c %a "$CONFIG")" "config file mode"
assert_eq "http://$REG" "$(jq -r .currentServer "$CONFIG")" "current server"
TOKEN=$(jq -r --arg s "http://$REG" '.servers[$s].token' "$CONFIG")
assert_not_contains "$(cat "$CONFIG")" "$ADMIN_PASS" "config file (no password)"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1/runs")" \
  "stored token works on the API"

log "local directory: .dockerignore, .git, upload, log, digests"
mkdir -p "$WORK/ctx/src" "$WORK/ctx/.git/objects"
echo "hello" >"$WORK/ctx/src/hello.txt"
echo "do not ship" >"$WORK/ctx/src/ignored.secret"
echo "[core]" >"$WORK/ctx/.git/config"
printf '*.secret\n**/*.secret\n' >"$WORK/ctx/.dockerignore"
# Kept as symlinks, wherever they point (Docker does; the upload used to be refused).
ln -s /usr/share/zoneinfo/UTC "$WORK/ctx/localtime"
ln -s ../../../etc "$WORK/ctx/src/up"
cat >"$WORK/ctx/Dockerfile" <<EOF
FROM $BASE
COPY . /app/
EOF
qb local -t app:v1 "$WORK/ctx"
ERR=$(cat "$WORK/local.err")
assert_contains "$ERR" "Packing source code into tar to upload..." "client progress"
assert_contains "$ERR" "Uploading archive (" "client progress"
assert_contains "$ERR" "Waiting for an agent..." "client progress"
ID1=$(run_id local)
[[ "$ID1" =~ ^c[a-z0-9]+$ ]] || fail "run id '$ID1'"
ok "queued as $ID1"
assert_contains "$(cat "$WORK/local.out")" "Run ID: $ID1 was successful after" "final status line"
D1=$(pushed local app:v1)
[[ "$D1" == sha256:* ]] || fail "no digest printed for $REG/app:v1: $(cat "$WORK/local.out")"
assert_eq "$D1" "$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/app:v1" | jq -r .Digest)" \
  "printed digest is the pushed one"
rootfs app:v1 "$WORK/fs-local"
assert_eq "hello" "$(cat "$WORK/fs-local/app/src/hello.txt")" "context file in the image"
[ ! -e "$WORK/fs-local/app/src/ignored.secret" ] || fail ".dockerignore'd file reached the image"
ok ".dockerignore'd file is not in the image"
[ ! -e "$WORK/fs-local/app/.git" ] || fail ".git reached the image"
ok ".git is not in the image"
assert_eq /usr/share/zoneinfo/UTC "$(readlink "$WORK/fs-local/app/localtime")" "absolute symlink kept"
assert_eq ../../../etc "$(readlink "$WORK/fs-local/app/src/up")" "outward symlink kept"

log "an invalid image name is refused before the context is packed"
if drydock build -t 'Team/App:1' "$WORK/ctx" >"$WORK/badname.out" 2>&1; then fail "build with -t Team/App:1 succeeded"; fi
assert_contains "$(cat "$WORK/badname.out")" "-t Team/App:1" "invalid name named"
assert_not_contains "$(cat "$WORK/badname.out")" "Packing source code" "nothing packed for an invalid name"

log "the timeout's range is the server's (the client keeps no copy of it)"
if drydock build --timeout 5 /dev/null >"$WORK/badtimeout.out" 2>&1; then fail "a 5 s timeout was accepted"; fi
assert_contains "$(cat "$WORK/badtimeout.out")" "timeout 5 must be between 300 and 28800 seconds" \
  "the server names the timeout's range"

log "run show / list / logs"
assert_eq Succeeded "$(run_field "$ID1" .status)" "run show status"
assert_eq QuickBuild "$(run_field "$ID1" .runType)" "run show runType"
assert_eq "$D1" "$(run_field "$ID1" '.outputImages[] | select(.tag == "v1") | .digest')" "run show digest"
LIST=$(drydock run list)
assert_contains "$(head -n1 <<<"$LIST")" "RUN ID" "run list header"
assert_contains "$LIST" "$ID1" "run list"
assert_eq "$ID1" "$(drydock run list -o json --status Succeeded --top 1 | jq -r '.[0].runId')" "run list -o json --status --top"
assert_contains "$(drydock run list --image app:v1)" "$ID1" "run list --image"
assert_contains "$(drydock run logs "$ID1")" "Run ID: $ID1 was successful" "run logs"
if drydock run show nosuchrun >"$WORK/show.out" 2>&1; then fail "run show of an unknown run succeeded"; fi
assert_contains "$(cat "$WORK/show.out")" "404" "run show unknown id"

log "-f outside the context"
mkdir -p "$WORK/dockerfiles"
cat >"$WORK/dockerfiles/alt.Dockerfile" <<EOF
FROM $BASE
COPY . /alt/
EOF
qb alt -t app:alt -f "$WORK/dockerfiles/alt.Dockerfile" "$WORK/ctx"
rootfs app:alt "$WORK/fs-alt"
assert_eq "hello" "$(cat "$WORK/fs-alt/alt/src/hello.txt")" "build with a Dockerfile outside the context"
assert_eq "" "$(ls -a "$WORK/fs-alt/alt" | grep drydock_ || true)" "generated Dockerfile not copied into the image"

log "git sources served by git daemon"
GSRC="$WORK/gitsrc"
git init -q -b main "$GSRC"
g() { git -C "$GSRC" -c user.email=t@example.com -c user.name=t "$@"; }
printf 'FROM %s\nCOPY which /which\n' "$BASE" >"$GSRC/Dockerfile"
echo main >"$GSRC/which"
mkdir -p "$GSRC/svc" "$GSRC/nodockerfile"
printf 'FROM %s\nCOPY which /which\n' "$BASE" >"$GSRC/svc/Dockerfile"
echo svc >"$GSRC/svc/which"
echo "no Dockerfile here" >"$GSRC/nodockerfile/README"
ln -s ../.. "$GSRC/escape"
g add -A && g commit -qm main
MAIN=$(g rev-parse HEAD)
g checkout -qb feature && echo feature >"$GSRC/which" && g commit -qam feature
FEATURE=$(g rev-parse HEAD)
g checkout -q main && g checkout -qb tagged && echo tag >"$GSRC/which" && g commit -qam tag && g tag v1.0
TAGGED=$(g rev-parse HEAD)
g checkout -q main && g checkout -qb pr && echo pr1 >"$GSRC/which" && g commit -qam pr
PR=$(g rev-parse HEAD)
g update-ref refs/pull/1/head "$PR"
g checkout -q main && g branch -qD tagged pr
mkdir -p "$WORK/git"
git clone -q --mirror "$GSRC" "$WORK/git/repo.git"
GPORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GPORT" \
  "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 1 100); do git ls-remote "git://127.0.0.1:$GPORT/repo.git" >/dev/null 2>&1 && break; sleep 0.1; done
git ls-remote "git://127.0.0.1:$GPORT/repo.git" >/dev/null 2>&1 || { cat "$WORK/git-daemon.log" >&2; fail "git daemon did not start"; }
assert_eq "$PR" "$(git ls-remote "git://127.0.0.1:$GPORT/repo.git" refs/pull/1/head | cut -f1)" "git daemon serves refs/pull/1/head"
GIT="git://127.0.0.1:$GPORT/repo.git"

# git_build NAME FRAGMENT EXPECTED_WHICH EXPECTED_COMMIT
git_build() {
  qb "git-$1" -t "git/app:$1" "$GIT#$2"
  local id
  id=$(run_id "git-$1")
  assert_eq "$4" "$(run_field "$id" .source.commit)" "git #$2: commit in the run record"
  assert_eq "$3" "$(file_in "git/app:$1" which)" "git #$2: content"
}
git_build main main main "$MAIN"
git_build feature feature feature "$FEATURE"
git_build tag v1.0 tag "$TAGGED"
git_build pr pull/1/head pr1 "$PR"
git_build sub main:svc svc "$MAIN"
assert_eq "$GIT" "$(run_field "$(run_id git-main)" .source.url)" "run record source url"

log "tarball URL served by busybox httpd"
mkdir -p "$WORK/www" "$WORK/tarctx"
printf 'FROM %s\nCOPY msg /msg\n' "$BASE" >"$WORK/tarctx/Dockerfile"
echo "from a tarball" >"$WORK/tarctx/msg"
tar -czf "$WORK/www/ctx.tar.gz" -C "$WORK/tarctx" .
HPORT=$(free_port)
/bin/busybox httpd -f -p "127.0.0.1:$HPORT" -h "$WORK/www" &
BG_PIDS+=($!)
wait_port "$HPORT" "busybox httpd"
qb tarball -t tar/app:v1 "http://127.0.0.1:$HPORT/ctx.tar.gz"
assert_eq "from a tarball" "$(file_in tar/app:v1 msg)" "tarball context content"

log "a private git repository over http, its token from DRYDOCK_GIT_TOKEN and never shown"
mkdir -p "$WORK/www-git/cgi-bin" "$WORK/private"
git clone -q --bare "$GSRC" "$WORK/private/repo.git"
cat >"$WORK/www-git/cgi-bin/git" <<EOF
#!/bin/sh
export GIT_PROJECT_ROOT=$WORK/private GIT_HTTP_EXPORT_ALL=1
exec git http-backend
EOF
chmod +x "$WORK/www-git/cgi-bin/git"
GIT_TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# busybox httpd wants Basic auth for /cgi-bin: the user git hosts use for tokens.
echo "/cgi-bin:x-access-token:$GIT_TOKEN" >"$WORK/httpd-git.conf"
GHPORT=$(free_port)
/bin/busybox httpd -f -p "127.0.0.1:$GHPORT" -h "$WORK/www-git" -c "$WORK/httpd-git.conf" &
BG_PIDS+=($!)
wait_port "$GHPORT" "git http-backend under busybox httpd"
PRIV="http://127.0.0.1:$GHPORT/cgi-bin/git/repo.git"
qb_fails private-no-token -t git/private:x "$PRIV#main"
assert_contains "$OUT" "failed to fetch the source" "without a token the private repository is refused"
DRYDOCK_GIT_TOKEN=$GIT_TOKEN qb private -t git/private:1 "$PRIV#feature"
assert_eq feature "$(file_in git/private:1 which)" "private repository content"
PRIV_LOG="$(cat "$WORK/private.out" "$WORK/private.err"; drydock run logs "$(run_id private)"; drydock run show "$(run_id private)")"
assert_not_contains "$PRIV_LOG" "$GIT_TOKEN" "the token in the log or the run record"
assert_not_contains "$PRIV_LOG" "$(printf 'x-access-token:%s' "$GIT_TOKEN" | base64 -w0)" "the auth header in the log"
# The server now keeps that checkout: it must still not build it for a run without the token.
qb_fails private-cached -t git/private:y "$PRIV#feature"
assert_contains "$OUT" "failed to fetch the source" "a kept private checkout is not served without the token"

log "/dev/null: no context, only the Dockerfile given with -f"
printf 'FROM %s\nRUN echo nothing here > /none\n' "$BASE" >"$WORK/only.Dockerfile"
qb devnull -t app:devnull -f "$WORK/only.Dockerfile" /dev/null
assert_eq "nothing here" "$(file_in app:devnull none)" "built from /dev/null"
qb_fails devnull-bare -t app:devnull2 /dev/null
assert_contains "$OUT" "no Dockerfile at 'Dockerfile'" "/dev/null without -f"

log "oci://: an OCI artifact whose layers are the context (an archive and an ORAS-style titled file)"
mkdir -p "$WORK/ocictx"
printf 'FROM %s\nCOPY msg /msg\nCOPY notes.txt /notes.txt\n' "$BASE" >"$WORK/ocictx/Dockerfile"
echo "from an artifact" >"$WORK/ocictx/msg"
tar -czf "$WORK/ocictx.tar.gz" -C "$WORK/ocictx" .
echo "a titled file" >"$WORK/notes.txt"
printf '{}' >"$WORK/empty.json"
L1=$(upload_blob ctx/artifact "$WORK/ocictx.tar.gz")
L2=$(upload_blob ctx/artifact "$WORK/notes.txt")
CFG=$(upload_blob ctx/artifact "$WORK/empty.json")
jq -n --arg l1 "$L1" --argjson s1 "$(stat -c %s "$WORK/ocictx.tar.gz")" \
  --arg l2 "$L2" --argjson s2 "$(stat -c %s "$WORK/notes.txt")" --arg cfg "$CFG" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.drydock.context.v1",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $cfg, size: 2},
    layers: [
      {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l1, size: $s1},
      {mediaType: "text/plain", digest: $l2, size: $s2,
       annotations: {"org.opencontainers.image.title": "notes.txt"}}]}' >"$WORK/artifact.json"
put_manifest ctx/artifact v1 "$WORK/artifact.json"
assert_eq 201 "$STATUS" "context artifact pushed"
qb oci -t oci/app:1 "oci://$REG/ctx/artifact:v1"
assert_eq "from an artifact" "$(file_in oci/app:1 msg)" "oci:// archive layer"
assert_eq "a titled file" "$(file_in oci/app:1 notes.txt)" "oci:// titled file layer"
assert_eq "oci://$REG/ctx/artifact:v1" "$(run_field "$(run_id oci)" .source.url)" "oci:// run record source"
qb_fails oci-missing -t oci/app:2 "oci://$REG/ctx/artifact:nope"
assert_contains "$OUT" "nope" "a missing artifact tag is named"

log "two builds at once"
echo one >"$WORK/ctx/src/n.txt"
drydock build -t app:par1 "$WORK/ctx" >"$WORK/par1.out" 2>"$WORK/par1.err" &
P1=$!
drydock build -t app:par2 "$GIT#feature" >"$WORK/par2.out" 2>"$WORK/par2.err" &
P2=$!
wait "$P1" || { tail "$WORK/par1.out" "$WORK/par1.err" >&2; fail "parallel build 1"; }
wait "$P2" || { tail "$WORK/par2.out" "$WORK/par2.err" >&2; fail "parallel build 2"; }
assert_ne "$(run_id par1)" "$(run_id par2)" "parallel run ids"
assert_contains "$(cat "$WORK/par1.out")" "was successful" "parallel build 1"
assert_contains "$(cat "$WORK/par2.out")" "was successful" "parallel build 2"

log "a failing build"
mkdir -p "$WORK/failctx"
printf 'FROM %s\nRUN echo about to fail && exit 3\n' "$BASE" >"$WORK/failctx/Dockerfile"
qb_fails failing -t app:broken "$WORK/failctx"
FID=$(run_id failing)
assert_contains "$OUT" "Run ID: $FID failed" "failing build status line"
assert_contains "$OUT" "about to fail" "failing build log streamed"
assert_eq Failed "$(run_field "$FID" .status)" "failed run status"
assert_ne "" "$(run_field "$FID" .runErrorMessage)" "failed run has an error message"
assert_contains "$OUT" "$(run_field "$FID" .runErrorMessage)" "client printed the error message"

log "--no-wait, then run logs --follow"
NW=$(drydock build --no-wait -t app:nowait "$WORK/ctx" 2>"$WORK/nowait.err")
[[ "$NW" =~ ^c[a-z0-9]+$ ]] || fail "--no-wait printed '$NW'"
ok "--no-wait printed the run id $NW"
assert_contains "$(drydock run logs "$NW" --follow)" "Run ID: $NW was successful" "run logs --follow"
assert_eq Succeeded "$(run_field "$NW" .status)" "--no-wait run finished"

log "--no-logs polls instead of streaming"
qb nologs -t app:nologs --no-logs "$WORK/ctx"
assert_contains "$(cat "$WORK/nologs.out")" "was successful" "--no-logs final line"
assert_contains "$(cat "$WORK/nologs.out")" "$REG/app:nologs@sha256:" "--no-logs digest"

log "cancel a running build while a client follows it"
mkdir -p "$WORK/slowctx"
printf 'FROM %s\nRUN echo sleeping && sleep 120\n' "$BASE" >"$WORK/slowctx/Dockerfile"
drydock build --no-cache -t app:slow "$WORK/slowctx" >"$WORK/slow.out" 2>"$WORK/slow.err" &
SLOWPID=$!
for _ in $(seq 1 100); do [ -n "$(run_id slow)" ] && break; sleep 0.1; done
SLOW=$(run_id slow)
wait_status "$SLOW" Running 60
for _ in $(seq 1 80); do grep -q sleeping "$WORK/slow.out" && break; sleep 0.25; done
assert_contains "$(cat "$WORK/slow.out")" "sleeping" "log streamed while the run is going"
drydock run cancel "$SLOW" >"$WORK/cancel.out" 2>&1 || { cat "$WORK/cancel.out" >&2; fail "run cancel"; }
ok "run cancel: $(cat "$WORK/cancel.out")"
wait_status "$SLOW" Canceled 30
ok "canceled run is Canceled"
if wait "$SLOWPID"; then fail "the client following a canceled run exited 0"; fi
ok "the following client exits non-zero"
assert_contains "$(cat "$WORK/slow.out")" "Run ID: $SLOW was canceled" "following client's final line"
if drydock run cancel "$SLOW" >"$WORK/cancel2.out" 2>&1; then fail "canceling a final run succeeded"; fi
assert_contains "$(cat "$WORK/cancel2.out")" "409" "cancel of a final run"

log "a following client reconnects across a server restart; the run is handed back and tried again"
drydock build --no-cache -t app:restart "$WORK/slowctx" >"$WORK/restart.out" 2>"$WORK/restart.err" &
RPID=$!
for _ in $(seq 1 100); do [ -n "$(run_id restart)" ] && break; sleep 0.1; done
RID=$(run_id restart)
wait_status "$RID" Running 60
for _ in $(seq 1 80); do grep -q sleeping "$WORK/restart.out" && break; sleep 0.25; done
stop_server
FIXED_PORT=$PORT start_server
for _ in $(seq 1 240); do
  [ "$(run_field "$RID" '.attempt == 2 and .status == "Running"')" = true ] &&
    [ "$(grep -cx "\[stage 0\] sleeping" "$WORK/restart.out")" = 2 ] && break
  sleep 0.25
done
assert_eq 2 "$(run_field "$RID" .attempt)" "the restarted server builds the handed-back run again"
drydock run cancel "$RID" >/dev/null
if wait "$RPID"; then fail "the client exited 0 for a run canceled after a restart"; fi
assert_eq Canceled "$(run_field "$RID" .status)" "the retried run was canceled"
assert_contains "$(cat "$WORK/restart.err")" "reconnecting" "client reconnected"
assert_contains "$(cat "$WORK/restart.out" "$WORK/restart.err")" "Canceled" "client reported the final status"
assert_contains "$(cat "$WORK/restart.out")" "handed the run back to the queue" "the log says the run went back"
assert_eq 2 "$(grep -cx "\[stage 0\] sleeping" "$WORK/restart.out")" \
  "each attempt's log lines printed once across the reconnect"

log "repository list / show-tags / delete"
assert_contains "$(drydock repository list)" "app" "repository list"
assert_contains "$(drydock repository list -o json | jq -r '.[]')" "git/app" "repository list -o json"
TAGS=$(drydock repository show-tags app)
assert_contains "$(head -n1 <<<"$TAGS")" "TAG" "show-tags header"
assert_contains "$(grep -w v1 <<<"$TAGS")" "$D1" "show-tags v1 digest"
if drydock repository delete app:alt </dev/null >"$WORK/del.out" 2>&1; then fail "delete without --yes succeeded"; fi
assert_contains "$(cat "$WORK/del.out")" "--yes" "delete without --yes"
drydock repository delete app:alt --yes >"$WORK/del.out" 2>&1 || { cat "$WORK/del.out" >&2; fail "delete tag"; }
assert_not_contains "$(drydock repository show-tags app)" "alt" "show-tags after deleting app:alt"
drydock repository delete tar/app --yes >"$WORK/del.out" 2>&1 || { cat "$WORK/del.out" >&2; fail "delete repository"; }
assert_not_contains "$(drydock repository list)" "tar/app" "repository list after delete"

log "--server, DRYDOCK_SERVER and DRYDOCK_USER/DRYDOCK_PASSWORD"
EMPTY="$WORK/empty-config"
assert_contains "$(XDG_CONFIG_HOME=$EMPTY DRYDOCK_USER=admin DRYDOCK_PASSWORD=$ADMIN_PASS drydock run list --top 100 --server "$REG")" \
  "$ID1" "run list with --server and env credentials"
assert_contains "$(XDG_CONFIG_HOME=$EMPTY DRYDOCK_SERVER=$REG DRYDOCK_USER=admin DRYDOCK_PASSWORD=$ADMIN_PASS drydock repository list)" \
  "app" "repository list with DRYDOCK_SERVER"
if XDG_CONFIG_HOME=$EMPTY drydock run list --server "$REG" >"$WORK/anon.out" 2>&1; then fail "anonymous run list succeeded"; fi
assert_contains "$(cat "$WORK/anon.out")" "401" "anonymous run list"

log "bad input fails clearly; the server stays healthy"
qb_fails unknown-branch -t bad/app:1 "$GIT#no-such-branch"
assert_contains "$OUT" "no-such-branch" "unknown branch message"
healthy "after an unknown branch"
DEAD=$(free_port)
qb_fails unreachable -t bad/app:1 "http://127.0.0.1:$DEAD/ctx.tar.gz"
assert_contains "$OUT" "127.0.0.1:$DEAD" "unreachable URL message"
healthy "after an unreachable URL"
qb_fails escape-dots -t bad/app:1 "$GIT#main:../.."
assert_contains "$OUT" ".." "subfolder with .. message"
qb_fails escape-link -t bad/app:1 "$GIT#main:escape"
assert_contains "$OUT" "escape" "subfolder escaping through a symlink"
healthy "after subfolders escaping the repository"
qb_fails git-no-dockerfile -t bad/app:1 "$GIT#main:nodockerfile"
assert_contains "$OUT" "Dockerfile" "git source without a Dockerfile"
mkdir -p "$WORK/nodf"
echo x >"$WORK/nodf/x"
qb_fails local-no-dockerfile -t bad/app:1 "$WORK/nodf"
assert_contains "$OUT" "Dockerfile" "local context without a Dockerfile"
qb_fails missing-dir -t bad/app:1 "$WORK/does-not-exist"
assert_contains "$OUT" "not a directory" "missing local directory"
qb_fails bad-timeout --timeout 10 "$WORK/ctx"
assert_contains "$OUT" "300" "--timeout below the server minimum"
qb_fails local-only --output "oci:$WORK/x" "$WORK/ctx"
assert_contains "$OUT" "--local" "local-only flag on a server build"
assert_contains "$(drydock run list -o json --top 50 | jq -r '.[].runId')" "$ID1" "run list after bad input"
healthy "after bad input"
qb final -t app:final "$WORK/ctx"
ok "a build after all the bad input still succeeds"

stop_server
