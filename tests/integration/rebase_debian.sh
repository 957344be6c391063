#!/usr/bin/env bash
# Rebase on a real Debian (issue 16): a Debian 12 base made with
# debootstrap, an application image that copies a static binary onto it,
# and a base update that installs a package (dpkg writes its database and
# new files). The task is rebased, not rebuilt; its verification runs the
# app and asks dpkg for the new package inside the rebased image; the
# rebased tree equals a full rebuild's, and the app runs in it.
. "$(dirname "$0")/lib.sh"

command -v gcc >/dev/null || fail "gcc is missing (build-essential)"
log "Debian bookworm minbase (debootstrap)"
debian_rootfs "$WORK/debian"
[ -x "$WORK/debian/usr/bin/dpkg" ] || fail "the debootstrap root has no dpkg"

cat >"$WORK/drydock.yaml" <<EOF
builds:
  allow_private_fetches: true  # the context is served on loopback
EOF
start_server --config "$WORK/drydock.yaml"
client_login
use_build_env
serve_www

log "base/debian:12 v1: minbase, pushed as one layer"
push_rootfs base/debian:12 "$WORK/debian"

log "the app: a static binary copied onto the base"
mkdir -p "$WORK/ctx/app"
cat >"$WORK/app.c" <<'EOF'
#include <stdio.h>
int main(void) {
  char version[64] = "";
  FILE* f = fopen("/etc/debian_version", "r");
  if (!f || !fgets(version, sizeof version, f)) return 1;
  printf("app on Debian %s", version);
  return 0;
}
EOF
gcc -static -O2 -o "$WORK/ctx/app/app" "$WORK/app.c" || fail "gcc -static"
printf 'FROM @REG@/base/debian:12\nCOPY app /usr/local/bin/app\nCMD ["/usr/local/bin/app"]\n' |
  dockerfile "$WORK/ctx/app/Dockerfile"
tar -czf "$WORK/www/app.tar.gz" -C "$WORK/ctx/app" .
drydock task create -n app -c "$WWW_URL/app.tar.gz" -t deb/app:1 \
  --patch-verify '/usr/local/bin/app | grep -q "app on Debian" && dpkg-query -W hello' \
  >"$WORK/task.out" 2>&1 || { cat "$WORK/task.out" >&2; fail "task create"; }
drydock task run -n app >"$WORK/run1.out" 2>&1 || { tail -n 20 "$WORK/run1.out" >&2; fail "first run"; }
all_succeeded app
BEFORE=$(digest_of deb/app:1)

log "base/debian:12 v2: the same Debian with the package hello installed by dpkg"
(cd "$WORK" && apt-get download hello >"$WORK/download.log" 2>&1) ||
  { cat "$WORK/download.log" >&2; fail "apt-get download hello"; }
mv "$WORK"/hello_*.deb "$WORK/debian/tmp/hello.deb"
chroot "$WORK/debian" dpkg -i /tmp/hello.deb >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg -i hello"; }
rm -f "$WORK/debian/tmp/hello.deb"
HELLO=$(chroot "$WORK/debian" dpkg-query -W -f='${Version}' hello)
push_rootfs base/debian:12 "$WORK/debian"
wait_count app 2 120
wait_idle 300
all_succeeded app

log "the app was rebased onto v2, verified inside it, not rebuilt"
RUN=$(newest_run app)
assert_eq "rebase $(digest_of base/debian:12)" "$(run_field "$RUN" '"\(.patch.kind) \(.patch.newBaseDigest)"')" \
  "the run: a rebase onto the new base"
drydock run logs "$RUN" >"$WORK/run2.log" 2>&1 || true
assert_not_contains "$(cat "$WORK/run2.log")" "Executing step ID: build" "no build"
assert_contains "$(cat "$WORK/run2.log")" "hello	$HELLO" "the verification found hello $HELLO in the rebased image"
assert_ne "$BEFORE" "$(digest_of deb/app:1)" "deb/app:1 moved"

log "the rebased tree equals a full rebuild's; the app and dpkg work in it"
build ctx/app --no-cache -t "$REG/deb/app-rebuilt:1" --push >/dev/null
rootfs deb/app:1 "$WORK/rebased"
rootfs deb/app-rebuilt:1 "$WORK/rebuilt"
tree() { (cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | sort); }
tree "$WORK/rebuilt" >"$WORK/rebuilt.tree"
tree "$WORK/rebased" >"$WORK/rebased.tree"
diff "$WORK/rebuilt.tree" "$WORK/rebased.tree" >"$WORK/tree.diff" || { head -n 20 "$WORK/tree.diff" >&2; fail "file trees differ"; }
ok "file trees: $(wc -l <"$WORK/rebased.tree") entries, names, types, modes, owners, sizes"
diff -r --no-dereference "$WORK/rebuilt" "$WORK/rebased" >"$WORK/tree.diff" 2>&1 ||
  { head -n 20 "$WORK/tree.diff" >&2; fail "file contents differ"; }
ok "rebased and rebuilt trees are identical"
assert_eq "$HELLO" "$(chroot "$WORK/rebased" dpkg-query -W -f='${Version}' hello)" "dpkg knows hello in the rebased image"
assert_eq "app on Debian $(cat "$WORK/debian/etc/debian_version")" "$(chroot "$WORK/rebased" /usr/local/bin/app)" \
  "the app runs in the rebased image"
assert_contains "$(chroot "$WORK/rebased" /usr/bin/hello)" "Hello, world!" "the new package runs in it"
ok "rebase onto a patched Debian"
