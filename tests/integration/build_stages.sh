#!/usr/bin/env bash
# drydock build --local: stages building in parallel (and a failure stopping
# the others), RUN --mount of every type (secret, ssh, tmpfs, cache options,
# bind from another stage, rw binds thrown away, bind sources in the cache
# key), COPY --link layers that do not depend on the base, and supplementary
# groups for RUN.
. "$(dirname "$0")/lib.sh"

start_server
use_build_env

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
make_busybox_layout "$WORK/base" 2 >/dev/null
push_layout "$WORK/base" 2 base/busybox:2
ok "base images pushed"

no_leftovers() {
  if grep -q "$WORK/build-state" /proc/mounts; then
    grep "$WORK/build-state" /proc/mounts >&2
    fail "mounts left behind after $1"
  fi
  ok "no mounts left after $1"
}

log "independent stages build at the same time"
dockerfile "$WORK/par/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS a
RUN cut -d' ' -f1 /proc/uptime >/a.t && sleep 3 && echo a > /a && cut -d' ' -f1 /proc/uptime >>/a.t
FROM @REG@/base/busybox:1 AS b
RUN cut -d' ' -f1 /proc/uptime >/b.t && sleep 3 && echo b > /b && cut -d' ' -f1 /proc/uptime >>/b.t
FROM @REG@/base/busybox:1
COPY --from=a /a /a.t /
COPY --from=b /b /b.t /
EOF
start=$(date +%s.%N)
build par -t "$REG/test/par:1" --push >/dev/null
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
rootfs test/par:1 "$WORK/fs-par"
assert_eq "a b" "$(cat "$WORK/fs-par/a") $(cat "$WORK/fs-par/b")" "files from both stages"
# The host's uptime (not namespaced) at each RUN's start and end: the two
# intervals overlap when the stages ran at the same time, however loaded
# the machine is.
read -r a0 a1 <<<"$(tr '\n' ' ' <"$WORK/fs-par/a.t")"
read -r b0 b1 <<<"$(tr '\n' ' ' <"$WORK/fs-par/b.t")"
awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN { exit !(a0 < b1 && b0 < a1) }' ||
  fail "stage a ran $a0-$a1 s and stage b $b0-$b1 s (host uptime): not at the same time"
ok "the two 3 s stages overlapped (a $a0-$a1 s, b $b0-$b1 s); the build took ${elapsed}s"

log "a failing stage stops the one running beside it"
dockerfile "$WORK/parfail/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS slow
RUN sleep 60
FROM @REG@/base/busybox:1 AS broken
RUN sleep 1; exit 3
FROM @REG@/base/busybox:1
COPY --from=slow /bin/sh /x
COPY --from=broken /bin/sh /y
EOF
start=$(date +%s)
expect_build_failure parfail "returned a non-zero code: 3"
(($(date +%s) - start < 30)) || fail "the slow stage was not stopped"
ok "failed after $(($(date +%s) - start))s"
no_leftovers "a failed parallel build"

log "RUN --mount=type=secret: in the RUN, nowhere in the image"
printf 's3cr3t-value' >"$WORK/token.txt"
SUM=$(md5sum <"$WORK/token.txt" | cut -c1-32)  # the Dockerfile names the secret only by its checksum
dockerfile "$WORK/secret/Dockerfile" <<EOF
FROM @REG@/base/busybox:1
RUN --mount=type=secret,id=tok test "\$(md5sum < /run/secrets/tok | cut -c1-32)" = $SUM && echo file-ok > /secret-file
RUN --mount=type=secret,id=tok,target=/etc/tok,uid=65534,mode=0440 stat -c '%u %a' /etc/tok > /secret-owner
RUN --mount=type=secret,id=tok,env=TOKEN test "\$(printf %s "\$TOKEN" | md5sum | cut -c1-32)" = $SUM && echo env-ok > /secret-env
RUN --mount=type=secret,id=absent ls /run/secrets > /absent 2>&1 || echo none > /absent
EOF
build secret -t "$REG/test/secret:1" --push --secret id=tok,src="$WORK/token.txt" >/dev/null
rootfs test/secret:1 "$WORK/fs-secret"
assert_eq "file-ok env-ok" "$(cat "$WORK/fs-secret/secret-file") $(cat "$WORK/fs-secret/secret-env")" "secret read in RUN"
assert_eq "65534 440" "$(cat "$WORK/fs-secret/secret-owner")" "secret uid and mode"
assert_eq "none" "$(cat "$WORK/fs-secret/absent")" "a missing optional secret is skipped"
[ ! -e "$WORK/fs-secret/run/secrets" ] && [ ! -e "$WORK/fs-secret/etc/tok" ] || fail "secret mount point left in the image"
skopeo copy -q --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" "docker://$REG/test/secret:1" "oci:$WORK/secret.oci:x" >/dev/null
for blob in "$WORK"/secret.oci/blobs/sha256/*; do
  if zcat -f "$blob" | grep -q s3cr3t-value; then fail "the secret's value is in blob $blob"; fi
done
assert_not_contains "$(cat "$WORK/secret.log")" "s3cr3t-value" "build log"
dockerfile "$WORK/secret-req/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN --mount=type=secret,id=needed,required=true true
EOF
expect_build_failure secret-req "secret needed is required but was not given"

log "RUN --mount=type=ssh: the agent socket and SSH_AUTH_SOCK"
eval "$(ssh-agent -a "$WORK/agent.sock" -s)" >/dev/null
dockerfile "$WORK/ssh/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh-sock
EOF
build ssh -t "$REG/test/ssh:1" --push --ssh default >/dev/null
kill "$SSH_AGENT_PID" 2>/dev/null || true
rootfs test/ssh:1 "$WORK/fs-ssh"
assert_eq "/run/buildkit/ssh_agent.0" "$(cat "$WORK/fs-ssh/ssh-sock")" "SSH_AUTH_SOCK in RUN"
[ ! -e "$WORK/fs-ssh/run/buildkit" ] || fail "ssh mount point left in the image"

log "RUN --mount=type=tmpfs, cache options, and bind mounts"
mkdir -p "$WORK/mounts/conf"
echo "v1" >"$WORK/mounts/conf/version"
dockerfile "$WORK/mounts/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS builder
RUN mkdir /out && echo built-by-builder > /out/artifact
FROM @REG@/base/busybox:1
RUN --mount=type=tmpfs,target=/scratch,size=8m echo x > /scratch/f && grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /tmpfs-type
RUN --mount=type=cache,target=/var/cache/app,uid=65534,mode=0700 stat -c '%u %a' /var/cache/app > /cache-owner
RUN --mount=type=bind,from=builder,source=/out,target=/mnt cp /mnt/artifact /copied
RUN --mount=type=bind,source=conf,target=/conf,rw echo changed > /conf/version && cat /conf/version > /rw-saw
RUN --mount=type=bind,source=conf,target=/conf cat /conf/version > /conf-version
EOF
build mounts -t "$REG/test/mounts:1" --push >/dev/null
rootfs test/mounts:1 "$WORK/fs-mounts"
assert_eq "tmpfs" "$(cat "$WORK/fs-mounts/tmpfs-type")" "tmpfs mount type"
[ ! -e "$WORK/fs-mounts/scratch" ] || fail "tmpfs contents left in the image"
assert_eq "65534 700" "$(cat "$WORK/fs-mounts/cache-owner")" "cache mount uid and mode"
assert_eq "built-by-builder" "$(cat "$WORK/fs-mounts/copied")" "bind from another stage"
[ ! -e "$WORK/fs-mounts/mnt/artifact" ] || fail "bind mount contents left in the image"
assert_eq "changed" "$(cat "$WORK/fs-mounts/rw-saw")" "an rw bind is writable in RUN"
assert_eq "v1" "$(cat "$WORK/mounts/conf/version")" "an rw bind's writes never reach the context"
assert_eq "v1" "$(cat "$WORK/fs-mounts/conf-version")" "bind from the context"
echo "v2" >"$WORK/mounts/conf/version"
build mounts -t "$REG/test/mounts:2" --push >/dev/null
rootfs test/mounts:2 "$WORK/fs-mounts2"
assert_eq "v2" "$(cat "$WORK/fs-mounts2/conf-version")" "a changed bind source reruns the RUN"
assert_eq "4" "$(grep -c CACHED "$WORK/mounts.log")" "steps that do not read the changed file stay cached"
dockerfile "$WORK/badmount/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN --mount=type=cache,target=/c,sharing=sometimes true
EOF
expect_build_failure badmount "line 2: RUN: --mount sharing must be shared, private or locked, not sometimes"
no_leftovers "the mount builds"

log "COPY --link: a layer that does not depend on the base"
mkdir -p "$WORK/link"
echo linked >"$WORK/link/f.txt"
dockerfile "$WORK/link/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE}
RUN mkdir /real && ln -s /real /app
COPY f.txt /app/plain.txt
COPY --link f.txt /app/linked.txt
EOF
last_layers() {  # REF: the files of the image's last two layers, "plain | linked"
  skopeo copy -q --src-tls-verify=false --src-creds "admin:$ADMIN_PASS" "docker://$REG/$1" "oci:$WORK/layers.oci:x" >/dev/null
  local m
  m=$(layout_blob "$WORK/layers.oci" "$(layout_digest "$WORK/layers.oci" x)")
  echo "$(tar -tzf "$(layout_blob "$WORK/layers.oci" "$(jq -r '.layers[-2].digest' "$m")")" | tr '\n' ' ')| $(tar -tzf "$(layout_blob "$WORK/layers.oci" "$(jq -r '.layers[-1].digest' "$m")")" | tr '\n' ' ')"
  rm -rf "$WORK/layers.oci"
}
export SOURCE_DATE_EPOCH=1700000000
build link -t "$REG/test/link:1" --push --build-arg BASE="$REG/base/busybox:1" >/dev/null
build link -t "$REG/test/link:2" --push --build-arg BASE="$REG/base/busybox:2" >/dev/null
unset SOURCE_DATE_EPOCH
assert_eq "real/ real/plain.txt | app/ app/linked.txt " "$(last_layers test/link:1)" "plain COPY follows the base's symlink; --link writes its own directory"
L1=$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/test/link:1" | jq -r '.Layers[-1]')
L2=$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/test/link:2" | jq -r '.Layers[-1]')
assert_eq "$L1" "$L2" "the --link layer is the same blob on either base"
assert_eq "[stage 0] COPY f.txt /app/linked.txt|[stage 0] CACHED" \
  "$(grep -A1 'COPY f.txt /app/linked.txt' "$WORK/link.log" | tr '\n' '|' | sed 's/|$//')" "the --link layer is reused on the other base"


log "RUN gets the user's supplementary groups"
dockerfile "$WORK/groups/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd && \
    printf 'appgrp:x:2345:\nextra:x:4000:root,app\nnot:x:4001:root\n' > /etc/group && \
    mkdir -p /tmp && chmod 1777 /tmp
USER app
RUN id -G > /tmp/groups
USER app:4001
RUN id -G > /tmp/groups-explicit
EOF
build groups -t "$REG/test/groups:1" --push >/dev/null
rootfs test/groups:1 "$WORK/fs-groups"
assert_eq "2345 4000" "$(cat "$WORK/fs-groups/tmp/groups")" "USER name: primary and member groups"
assert_eq "4001" "$(cat "$WORK/fs-groups/tmp/groups-explicit")" "USER name:group: only that group"

no_leftovers "every build"
stop_server
echo "build_stages: $CHECKS checks passed"
