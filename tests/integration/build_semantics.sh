#!/usr/bin/env bash
# drydock build --local: Dockerfile semantics beyond build.sh, each checked
# with exact values on the pushed image's config (skopeo inspect --config)
# and on its merged filesystem (layers applied in order): ONBUILD, SHELL,
# RUN and COPY heredocs, ADD of a local archive, COPY --chown by name and
# id, USER for RUN, ENTRYPOINT resetting an inherited CMD, ENV/LABEL/EXPOSE/
# VOLUME/WORKDIR forms, ARG scoping and --build-arg, stage selection
# (--target, unused stages, --from=<index>, --from=<image>), .dockerignore
# exceptions and the <Dockerfile>.dockerignore override, RUN --network=none,
# cache mounts, and cache keys that see heredoc bodies.
. "$(dirname "$0")/lib.sh"

start_server
use_build_env

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
make_busybox_layout "$WORK/base" 2 >/dev/null
push_layout "$WORK/base" 2 base/busybox:2
ok "base images base/busybox:1 and :2 pushed"

# cfg JQ: a compact jq query on $CFG.
cfg() { jq -c "$1" <<<"$CFG"; }

# owner_mode PATH: "uid:gid mode".
owner_mode() { stat -c '%u:%g %a' "$1"; }

# listing DIR: every path under DIR, relative, sorted, space separated.
listing() { (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'); }


log "a base image with users and groups (made by RUN)"
dockerfile "$WORK/users/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN echo 'app:x:1234:2345:app:/home/app:/bin/sh' >> /etc/passwd && \
    printf 'appgrp:x:2345:\nother:x:3456:\n' > /etc/group
EOF
build users -t "$REG/test/users:1" --push >/dev/null
rootfs test/users:1 "$WORK/fs-users"
assert_eq $'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh' "$(cat "$WORK/fs-users/etc/passwd")" "/etc/passwd of test/users:1"
assert_eq $'appgrp:x:2345:\nother:x:3456:' "$(cat "$WORK/fs-users/etc/group")" "/etc/group of test/users:1"

log "ONBUILD: stored by the base, run by the child, not inherited further"
dockerfile "$WORK/onbuild-base/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN echo base > /base.txt
ONBUILD RUN echo "onbuild ran as $(id -u)" > /onbuild.txt
ONBUILD COPY trigger.txt /trigger.txt
ONBUILD ENV FROM_ONBUILD=yes
ONBUILD RUN <<EOT
echo "heredoc trigger" > /onbuild-heredoc.txt
EOT
EOF
build onbuild-base -t "$REG/test/onbuild-base:1" --push >/dev/null
CFG=$(config_of test/onbuild-base:1)
assert_eq '["RUN echo \"onbuild ran as $(id -u)\" > /onbuild.txt","COPY trigger.txt /trigger.txt","ENV FROM_ONBUILD=yes","RUN <<EOT\necho \"heredoc trigger\" > /onbuild-heredoc.txt\nEOT"]' \
  "$(cfg .config.OnBuild)" "OnBuild of the base (a heredoc trigger keeps its body, as BuildKit stores it)"
assert_eq '["PATH=/bin"]' "$(cfg .config.Env)" "Env of the base (triggers not run there)"
rootfs test/onbuild-base:1 "$WORK/fs-onbuild-base"
assert_eq "base" "$(cat "$WORK/fs-onbuild-base/base.txt")" "base's own RUN"
[ ! -e "$WORK/fs-onbuild-base/onbuild.txt" ] && [ ! -e "$WORK/fs-onbuild-base/trigger.txt" ] &&
  [ ! -e "$WORK/fs-onbuild-base/onbuild-heredoc.txt" ] ||
  fail "ONBUILD triggers ran in the image that declares them"
ok "triggers did not run in the base"

dockerfile "$WORK/onbuild-child/Dockerfile" <<'EOF'
FROM @REG@/test/onbuild-base:1
RUN cat /onbuild.txt /trigger.txt > /child.txt && echo "$FROM_ONBUILD" >> /child.txt
ENTRYPOINT ["/bin/echo", "child"]
EOF
echo "trigger content" >"$WORK/onbuild-child/trigger.txt"
build onbuild-child -t "$REG/test/onbuild-child:1" --push >/dev/null
CFG=$(config_of test/onbuild-child:1)
assert_eq 'null' "$(cfg .config.OnBuild)" "OnBuild of the child (triggers consumed)"
assert_eq '["PATH=/bin","FROM_ONBUILD=yes"]' "$(cfg .config.Env)" "Env of the child (ENV trigger applied)"
assert_eq '["/bin/echo","child"]' "$(cfg .config.Entrypoint)" "Entrypoint of the child"
assert_eq 'null' "$(cfg .config.Cmd)" "ENTRYPOINT resets the Cmd inherited from the base"
rootfs test/onbuild-child:1 "$WORK/fs-onbuild-child"
assert_eq $'onbuild ran as 0\ntrigger content\nyes' "$(cat "$WORK/fs-onbuild-child/child.txt")" "triggers ran before the child's first instruction"
assert_eq "heredoc trigger" "$(cat "$WORK/fs-onbuild-child/onbuild-heredoc.txt")" "heredoc trigger ran"
assert_eq "base" "$(cat "$WORK/fs-onbuild-child/base.txt")" "base content in the child"

log "one stage with most instruction forms"
mkdir -p "$WORK/main/pkg"
echo "chowned" >"$WORK/main/f.txt"
printf '#!/bin/sh\necho run\n' >"$WORK/main/pkg/run.sh"
chmod 750 "$WORK/main/pkg/run.sh"
ln -s run.sh "$WORK/main/pkg/link"
tar --sort=name --owner=1234 --group=2345 --numeric-owner --mtime=@0 -czf "$WORK/main/files.tar.gz" -C "$WORK/main" pkg
rm -rf "$WORK/main/pkg"
dockerfile "$WORK/main/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS zero
RUN echo "from stage zero" > /zero.txt

FROM @REG@/test/users:1
ENV GREETING=world
RUN /bin/busybox mkdir -m 1777 /out && echo "[$SHELLVAR]" > /out/shell-before
SHELL ["/bin/busybox", "env", "SHELLVAR=custom", "/bin/sh", "-c"]
RUN echo "[$SHELLVAR]" > /out/shell-after
RUN <<EOT
echo "script line 1" > /out/heredoc-script
echo "greeting $GREETING via [$SHELLVAR]" >> /out/heredoc-script
EOT
RUN cat <<EOT > /out/heredoc-cat
hello $GREETING
EOT
RUN cat <<'EOT' > /out/heredoc-literal
hello $GREETING
EOT
RUN <<ONE cat > /out/heredoc-two && cat <<-TWO >> /out/heredoc-two
first
ONE
	second $GREETING
	TWO
RUN printf '#!/bin/sh\ncat "$1" > /out/shebang\n' > /out/interp && /bin/busybox chmod 755 /out/interp
RUN <<EOT
#!/out/interp
this is not shell
EOT
COPY <<EOT /etc/x
x is $GREETING
EOT
COPY <<'EOT' /etc/y
y is $GREETING
EOT
ADD files.tar.gz /opt/unpacked/
COPY files.tar.gz /opt/packed/
COPY --chown=app:other f.txt /own/app-other
COPY --chown=app f.txt /own/app
COPY --chown=1234 f.txt /own/uid
COPY --chown=4321:other f.txt /own/uid-group
COPY --from=0 /zero.txt /from-index.txt
COPY --from=@REG@/base/busybox:2 /etc/drydock-test /from-image.txt
ENV A=one
ENV B=${A}-two C="$A three"
ENV A=uno D=$A
LABEL a=1 b="two words" c=3
LABEL a=override
EXPOSE 80 443/tcp 53/UDP 7000-7001
VOLUME ["/v1", "/v2"]
VOLUME /v3 /v4
WORKDIR /srv
CMD echo $SHELLVAR
ENTRYPOINT /bin/echo entry
EOF
# COPY heredoc files are 0644 whatever the builder's umask (BuildKit's Mkfile mode).
(umask 0002 && build main -t "$REG/test/main:1" --push >/dev/null)
CFG=$(config_of test/main:1)
SHELL_JSON='"/bin/busybox","env","SHELLVAR=custom","/bin/sh","-c"'
assert_eq "[$SHELL_JSON]" "$(cfg .config.Shell)" "Shell"
assert_eq "[$SHELL_JSON,\"echo \$SHELLVAR\"]" "$(cfg .config.Cmd)" "shell-form CMD uses SHELL"
assert_eq "[$SHELL_JSON,\"/bin/echo entry\"]" "$(cfg .config.Entrypoint)" "shell-form ENTRYPOINT uses SHELL"
assert_eq '["PATH=/bin","GREETING=world","A=uno","B=one-two","C=one three","D=one"]' "$(cfg .config.Env)" \
  "Env (values see the ENV before their instruction; redefinition in place)"
assert_eq '{"a":"override","b":"two words","c":"3","drydock.test.tag":"1"}' "$(cfg .config.Labels)" "Labels"
assert_eq '["443/tcp","53/udp","7000/tcp","7001/tcp","80/tcp"]' "$(cfg '.config.ExposedPorts | keys')" \
  "ExposedPorts (default tcp, lower-cased protocol, range expanded)"
assert_eq '["/v1","/v2","/v3","/v4"]' "$(cfg '.config.Volumes | keys')" "Volumes (JSON and plain forms)"
assert_eq '"/srv"' "$(cfg .config.WorkingDir)" "WorkingDir"
assert_eq 'null' "$(cfg .config.User)" "User (never set)"

rootfs test/main:1 "$WORK/fs-main"
F="$WORK/fs-main"
assert_eq "[]" "$(cat "$F/out/shell-before")" "RUN before SHELL uses /bin/sh -c"
assert_eq "[custom]" "$(cat "$F/out/shell-after")" "RUN after SHELL runs in the new shell"
assert_eq $'script line 1\ngreeting world via [custom]' "$(cat "$F/out/heredoc-script")" "RUN <<EOF runs the heredoc as the script"
assert_eq "hello world" "$(cat "$F/out/heredoc-cat")" "RUN cat <<EOF > file: the shell expands the body"
assert_eq "hello \$GREETING" "$(cat "$F/out/heredoc-literal")" "RUN cat <<'EOF': quoted delimiter keeps the body literal"
assert_eq $'first\nsecond world' "$(cat "$F/out/heredoc-two")" "RUN with two heredocs (<<- strips tabs)"
assert_eq $'#!/out/interp\nthis is not shell' "$(cat "$F/out/shebang")" "RUN <<EOF with #! runs the file with its interpreter"
assert_eq "x is world" "$(cat "$F/etc/x")" "COPY <<EOF expands the body"
assert_eq "y is \$GREETING" "$(cat "$F/etc/y")" "COPY <<'EOF' keeps the body literal"
assert_eq "0:0 644" "$(owner_mode "$F/etc/x")" "COPY heredoc file owner and mode"
assert_eq $'#!/bin/sh\necho run' "$(cat "$F/opt/unpacked/pkg/run.sh")" "ADD extracts a local .tar.gz"
assert_eq "1234:2345 750" "$(owner_mode "$F/opt/unpacked/pkg/run.sh")" "ADD keeps the archive's owners and modes"
assert_eq "run.sh" "$(readlink "$F/opt/unpacked/pkg/link")" "ADD keeps the archive's symlinks"
assert_eq "$(sha256_of "$WORK/main/files.tar.gz")" "$(sha256_of "$F/opt/packed/files.tar.gz")" "COPY leaves an archive packed"
assert_eq "1234:3456 644" "$(owner_mode "$F/own/app-other")" "COPY --chown=name:group"
assert_eq "1234:3456 755" "$(owner_mode "$F/own")" "COPY --chown owns the parent it creates"
assert_eq "1234:2345 644" "$(owner_mode "$F/own/app")" "COPY --chown=name (group from passwd)"
assert_eq "1234:1234 644" "$(owner_mode "$F/own/uid")" "COPY --chown=uid (gid = uid, passwd not consulted)"
assert_eq "4321:3456 644" "$(owner_mode "$F/own/uid-group")" "COPY --chown=uid:group"
assert_eq "from stage zero" "$(cat "$F/from-index.txt")" "COPY --from=<stage index>"
assert_eq "tag=2" "$(head -n1 "$F/from-image.txt")" "COPY --from=<image reference>"

log "USER for RUN, WORKDIR chains and owners, RUN --network=none"
dockerfile "$WORK/identity/Dockerfile" <<'EOF'
FROM @REG@/test/users:1
RUN /bin/busybox mkdir -m 1777 /out
USER 65534
RUN id -u > /out/nobody-uid && id -g > /out/nobody-gid && echo x > /out/nobody-file
USER app
RUN echo "$(id -u):$(id -g)" > /out/app-ids
WORKDIR /home/app
WORKDIR work
WORKDIR ../other/./deep
RUN pwd > /out/pwd
USER app:other
RUN echo "$(id -u):$(id -g)" > /out/app-other-ids
USER 1234
RUN echo "$(id -u):$(id -g)" > /out/uid-ids
WORKDIR /by-uid
USER root
RUN --network=none ls /sys/class/net > /out/net-none
EOF
build identity -t "$REG/test/identity:1" --push >/dev/null
CFG=$(config_of test/identity:1)
assert_eq '"/by-uid"' "$(cfg .config.WorkingDir)" "WorkingDir after chained WORKDIRs"
assert_eq '"root"' "$(cfg .config.User)" "User"
rootfs test/identity:1 "$WORK/fs-identity"
F="$WORK/fs-identity"
assert_eq "65534" "$(cat "$F/out/nobody-uid")" "USER 65534: RUN id -u"
assert_eq "0" "$(cat "$F/out/nobody-gid")" "USER 65534 without a passwd entry: RUN id -g (gid 0, as runc)"
assert_eq "65534:0" "$(stat -c %u:%g "$F/out/nobody-file")" "owner of a file RUN creates as USER 65534"
assert_eq "1234:2345" "$(cat "$F/out/app-ids")" "USER app: ids from passwd"
assert_eq "1234:3456" "$(cat "$F/out/app-other-ids")" "USER app:other"
assert_eq "1234:2345" "$(cat "$F/out/uid-ids")" "USER 1234 with a passwd entry: its gid"
assert_eq "/home/app/other/deep" "$(cat "$F/out/pwd")" "RUN's cwd after chained relative WORKDIRs"
assert_eq "1234:2345 755" "$(owner_mode "$F/home/app/other/deep")" "WORKDIR as USER app creates the directory owned by app"
assert_eq "1234:2345 755" "$(owner_mode "$F/home/app/work")" "WORKDIR work"
assert_eq "1234:2345 755" "$(owner_mode "$F/home")" "parents WORKDIR creates are owned by USER too"
assert_eq "1234:1234 755" "$(owner_mode "$F/by-uid")" "WORKDIR as USER 1234 (chown rule: gid = uid)"
assert_eq "lo" "$(cat "$F/out/net-none")" "RUN --network=none sees only loopback"

log "ARG scoping and --build-arg"
dockerfile "$WORK/args/Dockerfile" <<'EOF'
ARG TAG=1
ARG GLOBAL=global-default
ARG UNDECLARED=never-seen
FROM @REG@/base/busybox:${TAG} AS parent
RUN echo "[$TAG][$GLOBAL][$UNDECLARED]" > /before
ARG GLOBAL
ARG TAG
ARG LOCAL=local-default
RUN echo "[$TAG][$GLOBAL][$UNDECLARED][$LOCAL]" > /after
ENV FROM_ARG=$GLOBAL
FROM parent
RUN echo "[$GLOBAL][$LOCAL]" > /child
EOF
build args -t "$REG/test/args:1" --push >/dev/null
rootfs test/args:1 "$WORK/fs-args1"
assert_eq "[][][]" "$(cat "$WORK/fs-args1/before")" "ARGs before FROM are not visible in the stage"
assert_eq "[1][global-default][][local-default]" "$(cat "$WORK/fs-args1/after")" "re-declared ARGs inherit the global value"
assert_eq "[global-default][local-default]" "$(cat "$WORK/fs-args1/child")" \
  "FROM <stage> inherits the parent stage's ARGs (docs.docker.com/build/building/variables/#scoping)"
assert_eq "tag=1" "$(head -n1 "$WORK/fs-args1/etc/drydock-test")" "FROM uses the ARG default"
CFG=$(config_of test/args:1)
assert_eq '["PATH=/bin","FROM_ARG=global-default"]' "$(cfg .config.Env)" "ARG values stay out of Env"
build args -t "$REG/test/args:2" --push --build-arg TAG=2 --build-arg GLOBAL=cli --build-arg LOCAL=cli-local >/dev/null
rootfs test/args:2 "$WORK/fs-args2"
assert_eq "tag=2" "$(head -n1 "$WORK/fs-args2/etc/drydock-test")" "--build-arg overrides the FROM arg"
assert_eq "[][][]" "$(cat "$WORK/fs-args2/before")" "overridden globals are still not visible undeclared"
assert_eq "[2][cli][][cli-local]" "$(cat "$WORK/fs-args2/after")" "--build-arg overrides global and stage ARGs"
assert_eq "[cli][cli-local]" "$(cat "$WORK/fs-args2/child")" "the child stage inherits the overridden values"

log "stages: --target, unused stages are not built"
dockerfile "$WORK/stages/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1 AS base
RUN echo base > /base.txt
FROM @REG@/does-not/exist:1 AS broken
RUN exit 1
FROM base AS middle
RUN echo middle > /middle.txt
LABEL stage=middle
FROM middle AS last
RUN exit 7
EOF
build stages -t "$REG/test/stages:1" --push --target middle >/dev/null
assert_not_contains "$(cat "$WORK/stages.log")" "does-not/exist" "build log of --target middle (broken stage untouched)"
CFG=$(config_of test/stages:1)
assert_eq '"middle"' "$(cfg .config.Labels.stage)" "label of the target stage"
rootfs test/stages:1 "$WORK/fs-stages"
assert_eq "base middle" "$(cat "$WORK/fs-stages/base.txt" "$WORK/fs-stages/middle.txt" | tr '\n' ' ' | sed 's/ $//')" "content of --target middle"
expect_build_failure stages "non-zero code: 7"

log ".dockerignore with ! exceptions; <Dockerfile>.dockerignore wins with -f"
mkdir -p "$WORK/ignore/secret" "$WORK/ignore/sub/deep"
for f in a.txt keep.txt b.md secret/x.key secret/public.md sub/deep/c.txt; do echo "$f" >"$WORK/ignore/$f"; done
printf '*.txt\n!keep.txt\nsecret\n!secret/public.md\n' >"$WORK/ignore/.dockerignore"
dockerfile "$WORK/ignore/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
COPY . /ctx/
EOF
build ignore -t "$REG/test/ignore:1" --push >/dev/null
rootfs test/ignore:1 "$WORK/fs-ignore1"
assert_eq ".dockerignore Dockerfile b.md keep.txt secret secret/public.md sub sub/deep sub/deep/c.txt" \
  "$(listing "$WORK/fs-ignore1/ctx")" "context copied with .dockerignore"
dockerfile "$WORK/dockerfiles/custom.Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
COPY . /ctx/
EOF
printf 'b.md\nsecret/x.key\n' >"$WORK/dockerfiles/custom.Dockerfile.dockerignore"
build ignore -t "$REG/test/ignore:2" --push -f "$WORK/dockerfiles/custom.Dockerfile" >/dev/null
rootfs test/ignore:2 "$WORK/fs-ignore2"
assert_eq ".dockerignore Dockerfile a.txt keep.txt secret secret/public.md sub sub/deep sub/deep/c.txt" \
  "$(listing "$WORK/fs-ignore2/ctx")" "context copied with custom.Dockerfile.dockerignore instead"

log "RUN --mount=type=cache survives --no-cache rebuilds and stays out of the image"
dockerfile "$WORK/cachemount/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && /bin/busybox wc -l < /var/cache/app/log > /runs
EOF
build cachemount --no-cache >/dev/null
build cachemount --no-cache -t "$REG/test/cachemount:1" --push >/dev/null
rootfs test/cachemount:1 "$WORK/fs-cachemount"
assert_eq "2" "$(cat "$WORK/fs-cachemount/runs")" "second build saw the first build's cache mount content"
[ ! -e "$WORK/fs-cachemount/var" ] || fail "cache mount target left in the image: $(listing "$WORK/fs-cachemount/var")"
ok "cache mount point (and its created parents) not in the image"

log "the cache key covers RUN heredoc bodies"
dockerfile "$WORK/hdcache/Dockerfile" <<'EOF'
FROM @REG@/base/busybox:1
RUN cat <<EOT > /version
version one
EOT
EOF
build hdcache >/dev/null
sed -i 's/version one/version two/' "$WORK/hdcache/Dockerfile"
build hdcache -t "$REG/test/hdcache:1" --push >/dev/null
rootfs test/hdcache:1 "$WORK/fs-hdcache"
assert_eq "version two" "$(cat "$WORK/fs-hdcache/version")" "changed heredoc body is rebuilt, not taken from the cache"

stop_server
echo "build_semantics: $CHECKS checks passed"
