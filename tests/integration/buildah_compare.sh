#!/usr/bin/env bash
# drydock build --local against buildah bud: the same Dockerfiles, built
# from the same base image in the test registry by both, pushed by both, then
# compared as pulled back: the merged filesystem (path, type, mode, owner,
# symlink target, content, hard-link groups; not times) and the config
# fields Docker documents (Env, Cmd, Entrypoint, WorkingDir, User, Labels,
# ExposedPorts, Volumes, StopSignal). A difference fails the test unless it
# is one of the few buildah-specific deviations listed (and cited) below.
. "$(dirname "$0")/lib.sh"

for tool in buildah skopeo; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done
start_server
use_build_env
CREDS=(--tls-verify=false --creds "admin:$ADMIN_PASS")

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
ok "base image base/busybox:1 pushed"

# fs_manifest DIR: one line per path under DIR, sorted: path, type, mode,
# owner, then the symlink target, or for a regular file the sha256 of its
# content and, when it has other links, the first path of its link group.
fs_manifest() {
  local dir=$1 path type mode owner inode links target extra
  declare -A first_link=()
  while IFS=$'\t' read -r path type mode owner inode links target; do
    extra=""
    case "$type" in
      l) extra="-> $target" ;;
      f)
        extra="sha256:$(sha256_of "$dir/$path" | cut -c1-16)"
        if [ "$links" -gt 1 ]; then
          [ -n "${first_link[$inode]:-}" ] || first_link[$inode]=$path
          extra="$extra link-group:${first_link[$inode]}"
        fi
        ;;
    esac
    printf '%s %s %s %s %s\n' "$path" "$type" "$mode" "$owner" "$extra"
  done < <(cd "$dir" && find . -mindepth 1 -printf '%P\t%y\t%#m\t%U:%G\t%i\t%n\t%l\n' | LC_ALL=C sort)
}

# config_fields REPO:TAG: the compared config fields, absent ones normalised
# to null/""/{} so that "unset" compares equal however a builder writes it.
# Env is compared as a set: buildah moves a redefined variable to the end,
# where Docker replaces it in place (BuildKit dockerfile2llb/convert.go,
# addEnv); drydock's order is checked on its own below.
config_fields() {
  config_of "$1" | jq -S '.config | {
      Env: (.Env // null | if . == null then . else sort end), Cmd: (.Cmd // null), Entrypoint: (.Entrypoint // null),
      WorkingDir: (.WorkingDir // ""), User: (.User // ""), Labels: (.Labels // {}),
      ExposedPorts: (.ExposedPorts // {}), Volumes: (.Volumes // {}), StopSignal: (.StopSignal // "")}'
}

# Mount points the RUN runtimes create in the root filesystem: an empty
# directory or file at one of these paths that only one image has is the
# runtime's (buildah's chroot isolation keeps some, drydock removes the stubs
# runc had to create, as BuildKit's MountStubsCleaner does); reported, not failed.
MOUNT_POINTS='(dev|proc|sys|run|etc/hosts|etc/resolv\.conf|etc/hostname) '

# [SKIP_PATHS="p1 p2"] compare NAME [build args...]: builds $WORK/NAME with
# both builders, pushes both, compares. SKIP_PATHS leaves paths out of the
# filesystem comparison (the caller then checks them on each side).
compare() {
  local name=$1 dd bh
  shift
  log "$name: drydock build"
  build "$name" -t "$REG/drydock/$name:1" --push "$@" >/dev/null
  log "$name: buildah bud"
  buildah bud --isolation chroot --format oci --layers=false "${CREDS[@]}" "$@" \
    -t "localhost/cmp-$name:1" "$WORK/$name" >"$WORK/$name.buildah.log" 2>&1 ||
    { tail -n 20 "$WORK/$name.buildah.log" >&2; fail "buildah bud $name failed"; }
  buildah push "${CREDS[@]}" --format oci "localhost/cmp-$name:1" "docker://$REG/buildah/$name:1" \
    >"$WORK/$name.push.log" 2>&1 || { cat "$WORK/$name.push.log" >&2; fail "buildah push $name failed"; }

  dd=$(config_fields "drydock/$name:1")
  # buildah labels every image it builds with its version (io.buildah.version,
  # buildah's own addition: Docker adds no label), so that one is left out.
  bh=$(config_fields "buildah/$name:1" | jq -S '.Labels |= del(."io.buildah.version")')
  if [ "$dd" != "$bh" ]; then
    diff <(echo "$bh") <(echo "$dd") | sed 's/^/    /' >&2 || true
    fail "$name: config fields differ (< buildah, > drydock)"
  fi
  ok "$name: config fields identical: $(jq -c 'with_entries(select(.value != null and .value != "" and .value != {}))' <<<"$dd")"

  rootfs "drydock/$name:1" "$WORK/$name.fs-drydock"
  rootfs "buildah/$name:1" "$WORK/$name.fs-buildah"
  fs_manifest "$WORK/$name.fs-drydock" >"$WORK/$name.manifest-drydock"
  fs_manifest "$WORK/$name.fs-buildah" >"$WORK/$name.manifest-buildah"
  local differences tolerated real
  local skip
  for skip in ${SKIP_PATHS:-}; do
    sed -i "\|^$skip |d" "$WORK/$name.manifest-drydock" "$WORK/$name.manifest-buildah"
  done
  differences=$(diff "$WORK/$name.manifest-buildah" "$WORK/$name.manifest-drydock" | grep '^[<>]' || true)
  tolerated=$(grep -E "^[<>] $MOUNT_POINTS" <<<"$differences" | grep -E ' d [0-9]+ [0-9:]+ $| f [0-9]+ [0-9:]+ sha256:e3b0c44298fc1c14' || true)
  real=$(grep -v -x -F -f <(printf '%s\n' "$tolerated") <<<"$differences" || true)
  [ -z "$tolerated" ] || log "$name: empty mount points only one builder left (< buildah, > drydock): $(tr '\n' ';' <<<"$tolerated")"
  if [ -n "$real" ]; then
    sed 's/^/    /' <<<"$real" >&2
    fail "$name: filesystems differ (< buildah, > drydock)"
  fi
  ok "$name: filesystems identical ($(wc -l <"$WORK/$name.manifest-drydock") paths${SKIP_PATHS:+ besides $SKIP_PATHS})"
}

# stat_both NAME PATH FORMAT: `stat -c FORMAT` of PATH in drydock's image, then in buildah's.
stat_both() {
  echo "$(stat -c "$3" "$WORK/$1.fs-drydock/$2") $(stat -c "$3" "$WORK/$1.fs-buildah/$2")"
}

# 1. One stage: ENV, WORKDIR, COPY (with --chown), RUN, USER, config.
mkdir -p "$WORK/single/app/bin"
echo "config" >"$WORK/single/app/config.txt"
printf '#!/bin/sh\necho hi\n' >"$WORK/single/app/bin/hello"
chmod 755 "$WORK/single/app/bin/hello"
dockerfile "$WORK/single/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
ENV APP=/opt/app MODE=compare
ENV PATH=$APP/bin:$PATH
WORKDIR $APP
COPY app/ ./
COPY --chown=65534:65534 app/config.txt /etc/app.conf
RUN echo "$MODE" > mode.txt && /bin/busybox mkdir -p /data/out && /bin/busybox chmod 1777 /data/out
USER 65534
RUN id -u > /data/out/uid && id -g > /data/out/gid && echo "$PATH" > /data/out/path
WORKDIR /data/work
LABEL org.example.a=1 org.example.b="two words"
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
CMD ["/bin/sh", "-c", "cat mode.txt"]
EOF
compare single
# Docker replaces a redefined variable in place (BuildKit's addEnv).
assert_eq '["PATH=/opt/app/bin:/bin","APP=/opt/app","MODE=compare"]' "$(config_of drydock/single:1 | jq -c .config.Env)" \
  "single: drydock's Env order"

# 2. Multi-stage: ARGs, a stage built FROM a stage, COPY --from by name and index.
dockerfile "$WORK/multistage/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS build
ARG VERSION=1.0
RUN /bin/busybox mkdir -p /build/sub && echo "v$VERSION" > /build/version && echo data > /build/sub/data && \
    /bin/busybox chown -R 1234:2345 /build/sub
FROM build AS tested
RUN echo "[$VERSION]" > /build/inherited-arg
FROM @REG@/base/busybox:1
COPY --from=tested /build/ /app/
COPY --from=build /build/version /version
COPY --from=0 /bin/busybox /tools/busybox
ENTRYPOINT ["/bin/cat"]
CMD ["/app/version"]
EOF
SKIP_PATHS="app/inherited-arg" compare multistage --build-arg VERSION=2.5
# A stage inherits the ARGs of the stage it is built FROM ("Arguments and
# variables are inherited from parent stages",
# docs.docker.com/build/building/variables/#scoping); buildah 1.28 does not.
assert_eq "[2.5]" "$(cat "$WORK/multistage.fs-drydock/app/inherited-arg")" "multistage: drydock: ARG inherited by FROM <stage>"
log "multistage: buildah's app/inherited-arg: $(cat "$WORK/multistage.fs-buildah/app/inherited-arg") (tolerated)"

# 3. Deletions: whiteouts for base files and earlier layers, a directory
# deleted and made again (opaque), a file replaced.
dockerfile "$WORK/whiteouts/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN /bin/busybox mkdir -p /work/keep /work/gone/deep && echo a > /work/keep/a && echo b > /work/gone/deep/b && \
    echo c > /work/c && echo d > /work/keep/d
RUN /bin/busybox rm -rf /work/gone /etc/drydock-test /bin/false /work/keep/a && echo new > /work/c
RUN /bin/busybox mkdir /work/gone && echo back > /work/gone/new && /bin/busybox rm -rf /tmp
EOF
compare whiteouts

# 4. Links: symlinks (relative, absolute, dangling, to a directory) and hard
# links, from the context and made by RUN, including one to a base file.
mkdir -p "$WORK/links/links/dir"
echo "linked" >"$WORK/links/links/file"
ln "$WORK/links/links/file" "$WORK/links/links/hard"
ln -s file "$WORK/links/links/rel"
ln -s /etc/passwd "$WORK/links/links/abs"
ln -s /nowhere "$WORK/links/links/dangling"
ln -s dir "$WORK/links/links/dirlink"
dockerfile "$WORK/links/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
COPY links/ /links/
RUN cd /links && /bin/busybox ln file run-hard && /bin/busybox ln -s file run-sym && \
    /bin/busybox ln -s /nonexistent run-dangling && /bin/busybox ln -s /bin run-dirlink
RUN /bin/busybox ln /bin/busybox /bin/bb-hard && /bin/busybox ln -sf busybox /bin/sleep
EOF
SKIP_PATHS="bin/busybox bin/bb-hard links/hard" compare links
# Hard links to files of lower layers, where the builders part ways:
# - `ln /bin/busybox /bin/bb-hard`: on overlayfs the link copies busybox up,
#   so the layer holds both names as one inode (as with Docker's overlayfs
#   snapshotter); buildah's vfs layer diff holds only the new name, which
#   becomes a separate file.
# - links/file and links/hard (one inode from the context): the later
#   `ln file run-hard` copies file up, and overlayfs without its inodes index
#   breaks the lower hard link on copy-up (Linux fs/overlayfs/Kconfig,
#   OVERLAY_FS_INDEX; containerd mounts with index=off, so Docker does the
#   same); buildah's vfs copy keeps all three names on one inode.
read -r dd_a bh_a <<<"$(stat_both links bin/busybox %i)"
read -r dd_b bh_b <<<"$(stat_both links bin/bb-hard %i)"
assert_eq "$dd_a" "$dd_b" "links: drydock: bin/bb-hard and bin/busybox are one inode"
log "links: buildah: bin/bb-hard and bin/busybox are $([ "$bh_a" = "$bh_b" ] && echo one inode || echo two files) (tolerated)"
read -r dd_a bh_a <<<"$(stat_both links links/file %i)"
read -r dd_b bh_b <<<"$(stat_both links links/hard %i)"
assert_ne "$dd_a" "$dd_b" "links: drydock: links/hard split from links/file by the copy-up"
log "links: buildah: links/hard and links/file are $([ "$bh_a" = "$bh_b" ] && echo one inode || echo two files) (tolerated)"
for p in bin/busybox bin/bb-hard links/hard; do
  read -r dd_a bh_a <<<"$(stat_both links "$p" %f:%u:%g:%s)"
  assert_eq "$bh_a" "$dd_a" "links: $p type, mode, owner and size on both"
  assert_same_bytes "$WORK/links.fs-buildah/$p" "$WORK/links.fs-drydock/$p" "links: $p content on both"
done

# 5. Modes: special bits, restrictive directories, --chmod, umask in RUN,
# an archive ADD unpacks with its own owners and modes.
mkdir -p "$WORK/modes/modes/private" "$WORK/modes/modes/sticky" "$WORK/modes/pkg/bin"
for f in plain exec setuid readonly; do echo "$f" >"$WORK/modes/modes/$f"; done
echo secret >"$WORK/modes/modes/private/key"
chmod 600 "$WORK/modes/modes/plain"
chmod 755 "$WORK/modes/modes/exec"
chmod 4755 "$WORK/modes/modes/setuid"
chmod 444 "$WORK/modes/modes/readonly"
chmod 700 "$WORK/modes/modes/private"
chmod 1777 "$WORK/modes/modes/sticky"
chmod 750 "$WORK/modes/modes"
echo tool >"$WORK/modes/pkg/bin/tool"
chmod 2711 "$WORK/modes/pkg/bin/tool"
chmod 700 "$WORK/modes/pkg/bin"
tar --sort=name --owner=1234 --group=2345 --numeric-owner --mtime=@0 -cf "$WORK/modes/pkg.tar" -C "$WORK/modes" pkg
rm -rf "$WORK/modes/pkg"
dockerfile "$WORK/modes/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
COPY modes/ /modes/
COPY --chmod=0640 modes/plain /modes/chmodded
RUN /bin/busybox chmod 4711 /modes/exec && /bin/busybox mkdir -m 2770 /modes/setgid-dir && \
    /bin/busybox chown 1:2 /modes/setgid-dir && umask 077 && echo umask > /modes/umask-file
ADD pkg.tar /unpacked/
EOF
SKIP_PATHS="modes/setuid" compare modes
# Docker keeps the setuid bit of a context file; buildah strips setuid and
# setgid from context sources on purpose (imagebuildah/stage_executor.go:
# "stripSetuid = true // did this change between 18.06 and 19.03?").
assert_eq "4755" "$(stat -c %a "$WORK/modes.fs-drydock/modes/setuid")" "modes: drydock keeps setuid from the context"
log "modes: buildah's modes/setuid: $(stat -c %a "$WORK/modes.fs-buildah/modes/setuid") (tolerated)"

# 6. COPY/ADD destination rules: file to a new name, into an existing
# directory, several sources and globs into a directory, a directory's
# contents into a new and into an existing directory, paths relative to
# WORKDIR, --chown on created parents, .dockerignore.
mkdir -p "$WORK/copyrules/ctx/dir/sub" "$WORK/copyrules/ctx/skip"
echo a >"$WORK/copyrules/ctx/a.txt"
echo b >"$WORK/copyrules/ctx/b.txt"
echo c >"$WORK/copyrules/ctx/c.md"
echo in-dir >"$WORK/copyrules/ctx/dir/file"
echo in-sub >"$WORK/copyrules/ctx/dir/sub/file"
echo skipped >"$WORK/copyrules/ctx/skip/file"
echo ignored >"$WORK/copyrules/ctx/dir/ignored.tmp"
chmod 750 "$WORK/copyrules/ctx/dir"
chmod 700 "$WORK/copyrules/ctx/dir/sub"
printf 'ctx/skip\n**/*.tmp\n' >"$WORK/copyrules/.dockerignore"
dockerfile "$WORK/copyrules/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
COPY ctx/a.txt /dest-file
COPY ctx/a.txt /etc/
COPY ctx/a.txt ctx/b.txt /multi/
COPY ctx/*.txt /glob/
COPY ctx/dir /copied-dir
COPY ctx/dir /etc
COPY ctx /whole
COPY --chown=1:2 ctx/dir /owned/deeper/
WORKDIR /w
COPY ctx/a.txt rel.txt
COPY ctx/b.txt .
ADD ctx/c.md added/
EOF
compare copyrules

stop_server
echo "buildah_compare: $CHECKS checks passed"
