#!/usr/bin/env bash
# drydock build --local: ADD of remote sources, checked on the pushed image.
# Files come from busybox httpd: the name from the URL, mode 0600 and the
# Last-Modified mtime, --chmod/--chown, no unpacking (unless --unpack),
# several sources and a context file with a URL, --checksum (a hit
# downloads nothing; a mismatch names both digests), a 404, and a changed
# file missing the cache. Repositories come from git daemon: a branch, a tag
# with a subdir, --keep-git-dir, and a new commit missing the cache.
. "$(dirname "$0")/lib.sh"

start_server
use_build_env
make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
ok "base image base/busybox:1 pushed"

log "an http server with files"
WWW="$WORK/www"
mkdir -p "$WWW/files" "$WORK/pkg/bin"
printf 'remote one\n' >"$WWW/files/one.txt"
touch -d '2020-01-02 03:04:05 UTC' "$WWW/files/one.txt"
printf 'config v1\n' >"$WWW/files/app.conf"
echo 'echo packaged' >"$WORK/pkg/bin/run.sh"
tar -czf "$WWW/files/pkg.tar.gz" -C "$WORK/pkg" .
HTTP_PORT=$(free_port)
"$BUSYBOX" httpd -f -p "127.0.0.1:$HTTP_PORT" -h "$WWW" &
BG_PIDS+=($!)
wait_port "$HTTP_PORT" "busybox httpd"
H="http://127.0.0.1:$HTTP_PORT/files"

log "a git server with a repository: main (2 commits, tag v1 on the first), release"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
mkdir -p "$WORK/srv" "$WORK/gitsrc/docs"
GIT_PORT=$(free_port)
git daemon --reuseaddr --base-path="$WORK/srv" --export-all --enable=upload-pack \
  --port="$GIT_PORT" --listen=127.0.0.1 "$WORK/srv" &
BG_PIDS+=($!)
(
  cd "$WORK/gitsrc"
  git init -q -b main
  echo "readme" >README
  echo "guide v1" >docs/guide.txt
  git add . && git commit -qm v1 && git tag v1
  echo "guide v2" >docs/guide.txt
  git commit -qam v2
  git checkout -qb release
  echo "release 1" >release.txt
  git add . && git commit -qm release
  git checkout -q main
)
git clone -q --bare "$WORK/gitsrc" "$WORK/srv/app.git"
git -C "$WORK/gitsrc" remote add origin "$WORK/srv/app.git"
MAIN=$(git -C "$WORK/gitsrc" rev-parse main)
wait_port "$GIT_PORT" "git daemon"
G="git://127.0.0.1:$GIT_PORT/app.git"

owner_mode() { stat -c '%u:%g %a' "$1"; }

log "ADD <url>: file names, mode 0600, Last-Modified, --chmod/--chown, no unpacking"
dockerfile "$WORK/files/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD $H/one.txt /downloads/
ADD $H/one.txt /renamed.txt
ADD --chmod=644 --chown=1234:5678 $H/app.conf /etc/app.conf
ADD $H/pkg.tar.gz /pkgs/
ADD $H/one.txt $H/app.conf /both
ADD --unpack=true $H/pkg.tar.gz /unpacked/
ADD local.txt $H/one.txt /mixed
EOF
echo "from the context" >"$WORK/files/local.txt"
D1=$(build files -t "$REG/test/files:1" --push)
rootfs test/files:1 "$WORK/fs1"
F="$WORK/fs1"
assert_eq "remote one" "$(cat "$F/downloads/one.txt")" "ADD url dir/ keeps the URL's file name"
assert_eq "0:0 600" "$(owner_mode "$F/downloads/one.txt")" "remote file owner and mode"
assert_eq "$(date -d '2020-01-02 03:04:05 UTC' +%s)" "$(stat -c %Y "$F/downloads/one.txt")" "mtime from Last-Modified"
assert_eq "remote one" "$(cat "$F/renamed.txt")" "ADD url to a file name"
assert_eq "0:0 600" "$(owner_mode "$F/renamed.txt")" "renamed remote file owner and mode"
assert_eq "config v1" "$(cat "$F/etc/app.conf")" "ADD --chmod --chown url"
assert_eq "1234:5678 644" "$(owner_mode "$F/etc/app.conf")" "--chown and --chmod win over 0600"
[ -f "$F/pkgs/pkg.tar.gz" ] && [ ! -e "$F/pkgs/bin" ] || fail "a remote archive must be copied, not extracted"
assert_eq "$(sha256_of "$WWW/files/pkg.tar.gz")" "$(sha256_of "$F/pkgs/pkg.tar.gz")" "remote archive copied byte for byte"
assert_eq "app.conf one.txt" "$(ls "$F/both" | tr '\n' ' ' | sed 's/ $//')" "two URLs make the destination a directory"
assert_eq "echo packaged" "$(cat "$F/unpacked/bin/run.sh")" "ADD --unpack=true extracts a remote archive"
assert_eq "local.txt one.txt" "$(ls "$F/mixed" | tr '\n' ' ' | sed 's/ $//')" "a context file and a URL together"
assert_eq "from the context" "$(cat "$F/mixed/local.txt")" "context file next to a remote one"
assert_contains "$(cat "$WORK/files.log")" "sha256:$(sha256_of "$WWW/files/one.txt")" "build log names the downloaded digest"

log "cache: unchanged remote files hit; a changed one misses"
D2=$(build files -t "$REG/test/files:2" --push)
assert_eq "$D1" "$D2" "digest of the cached rebuild"
assert_eq 7 "$(grep -c CACHED "$WORK/files.log")" "every ADD cached"
printf 'config v2\n' >"$WWW/files/app.conf"
D3=$(build files -t "$REG/test/files:3" --push)
assert_ne "$D1" "$D3" "digest after the remote file changed"
assert_eq 2 "$(grep -c CACHED "$WORK/files.log")" "the steps before the changed file stay cached"
rootfs test/files:3 "$WORK/fs3"
assert_eq "config v2" "$(cat "$WORK/fs3/etc/app.conf")" "changed remote file in the rebuilt image"

log "--checksum: a match builds (and a cached rebuild downloads nothing), a mismatch fails"
SUM=$(sha256_of "$WWW/files/one.txt")
dockerfile "$WORK/checked/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD --checksum=sha256:$SUM $H/one.txt /checked.txt
EOF
build checked -t "$REG/test/checked:1" --push >/dev/null
rootfs test/checked:1 "$WORK/fs-checked"
assert_eq "remote one" "$(cat "$WORK/fs-checked/checked.txt")" "ADD --checksum (match)"
build checked >/dev/null
assert_eq 1 "$(grep -c CACHED "$WORK/checked.log")" "cached --checksum step"
assert_not_contains "$(cat "$WORK/checked.log")" "downloading" "cached --checksum step downloads nothing"
log "credentials in an ADD URL stay out of the log and the image history"
CRED_H="http://builder:s3cr3t-pw@127.0.0.1:$HTTP_PORT/files"
dockerfile "$WORK/secret-url/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD $CRED_H/one.txt /cred.txt
EOF
build secret-url -t "$REG/test/secret-url:1" --push >/dev/null
assert_contains "$(cat "$WORK/secret-url.log")" "ADD http://***@127.0.0.1" "the step line shows the URL redacted"
assert_not_contains "$(cat "$WORK/secret-url.log")" "s3cr3t-pw" "build log"
assert_not_contains "$(config_of test/secret-url:1)" "s3cr3t-pw" "image history"
WRONG=$(printf '0%.0s' $(seq 1 64))
dockerfile "$WORK/mismatch/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD --checksum=sha256:$WRONG $H/one.txt /x
EOF
expect_build_failure mismatch "checksum mismatch"
assert_contains "$(cat "$WORK/mismatch.log")" "expected sha256:$WRONG" "error of build mismatch"
assert_contains "$(cat "$WORK/mismatch.log")" "got sha256:$SUM" "error of build mismatch"

log "errors: a 404 and an unknown git ref"
dockerfile "$WORK/missing/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD $H/nope.txt /x
EOF
expect_build_failure missing "line 2: ADD"
assert_contains "$(cat "$WORK/missing.log")" "404" "error of build missing"
assert_contains "$(cat "$WORK/missing.log")" "$H/nope.txt" "error of build missing"
dockerfile "$WORK/badref/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD $G#no-such-branch /x
EOF
expect_build_failure badref "line 2: ADD"
assert_contains "$(cat "$WORK/badref.log")" "'no-such-branch' not found" "error of build badref"

log "ADD <git url>: a branch, a tag with a subdir, --keep-git-dir"
dockerfile "$WORK/repo/Dockerfile" <<EOF
FROM $REG/base/busybox:1
ADD $G#v1:docs /docs-v1
ADD --keep-git-dir=true $G /with-git
ADD $G#release /src-release
EOF
build repo -t "$REG/test/repo:1" --push >/dev/null
rootfs test/repo:1 "$WORK/fs-repo"
F="$WORK/fs-repo"
assert_eq "release 1" "$(cat "$F/src-release/release.txt")" "ADD git#branch"
assert_eq "guide v2" "$(cat "$F/src-release/docs/guide.txt")" "branch content"
[ ! -e "$F/src-release/.git" ] || fail "ADD git without --keep-git-dir must not copy .git"
ok "no .git without --keep-git-dir"
assert_eq "guide.txt" "$(ls "$F/docs-v1")" "ADD git#tag:subdir copies only the subdir"
assert_eq "guide v1" "$(cat "$F/docs-v1/guide.txt")" "tag content"
assert_eq "0:0 644" "$(owner_mode "$F/docs-v1/guide.txt")" "git file owner and mode"
[ -d "$F/with-git/.git" ] || fail "--keep-git-dir=true must keep .git"
assert_eq "$MAIN" "$(git --git-dir="$F/with-git/.git" rev-parse HEAD)" "kept .git is at the default branch's commit"
assert_eq "readme" "$(cat "$F/with-git/README")" "default branch content"

log "cache: the same commit hits, a new commit misses"
build repo >/dev/null
assert_eq 3 "$(grep -c CACHED "$WORK/repo.log")" "every git ADD cached"
(cd "$WORK/gitsrc" && git checkout -q release && echo "release 2" >release.txt && git commit -qam r2 &&
  git push -q origin release && git checkout -q main)
build repo -t "$REG/test/repo:2" --push >/dev/null
assert_eq 2 "$(grep -c CACHED "$WORK/repo.log")" "only the ADD of the moved branch (the last step) reruns"
rootfs test/repo:2 "$WORK/fs-repo2"
assert_eq "release 2" "$(cat "$WORK/fs-repo2/src-release/release.txt")" "new commit in the rebuilt image"
