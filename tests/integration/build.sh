#!/usr/bin/env bash
# drydock build --local: Dockerfile semantics checked on the pushed image
# (config via skopeo, filesystem via the layers applied in order), the
# cache, reproducibility, multi-stage, dependencies, and bad input.
. "$(dirname "$0")/lib.sh"

start_server
use_build_env

make_busybox_layout "$WORK/base" 1 >/dev/null
push_layout "$WORK/base" 1 base/busybox:1
BASE_DIGEST=$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/base/busybox:1" | jq -r .Digest)
ok "base image base/busybox:1 is $BASE_DIGEST"

log "semantics: ENV, ARG, WORKDIR, USER, COPY, RUN, whiteouts, CMD/ENTRYPOINT, LABEL, EXPOSE, VOLUME, .dockerignore"
mkdir -p "$WORK/app/src/sub"
echo "hello from the context" >"$WORK/app/src/hello.txt"
echo "nested" >"$WORK/app/src/sub/nested.txt"
echo "secret" >"$WORK/app/src/ignored.key"
printf '**/*.key\n' >"$WORK/app/.dockerignore"
cat >"$WORK/app/Dockerfile" <<DOCKERFILE
ARG BASE=$REG/base/busybox:1
FROM \${BASE}
ARG GREETING=hi
ENV APP_HOME=/opt/app \\
    MODE=test
WORKDIR \$APP_HOME
COPY src/ ./files/
COPY --chmod=0600 src/hello.txt /etc/hello-private
RUN echo "\$GREETING from \$MODE" > greeting.txt && /bin/busybox rm /etc/drydock-test
RUN /bin/busybox mkdir -p /data && echo \$(id -u) > /data/uid
LABEL org.example.name="drydock test" org.example.mode=\$MODE
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER 65534:65534
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /opt/app/greeting.txt"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=3 CMD cat /opt/app/greeting.txt
DOCKERFILE
D1=$(build app -t "$REG/test/app:1" --push --build-arg GREETING=hello --print-dependencies)
[[ "$D1" == sha256:* ]] || fail "build printed no digest: $D1"
ok "built and pushed test/app:1 = $D1"
assert_eq "$D1" "$(skopeo inspect --tls-verify=false --creds "admin:$ADMIN_PASS" "docker://$REG/test/app:1" | jq -r .Digest)" "pushed digest"

CFG=$(config_of test/app:1)
assert_eq '/opt/app' "$(jq -r .config.WorkingDir <<<"$CFG")" "WorkingDir"
assert_eq '65534:65534' "$(jq -r .config.User <<<"$CFG")" "User"
assert_contains "$(jq -r '.config.Env[]' <<<"$CFG")" "APP_HOME=/opt/app" "Env"
assert_contains "$(jq -r '.config.Env[]' <<<"$CFG")" "MODE=test" "Env"
assert_not_contains "$(jq -r '.config.Env[]' <<<"$CFG")" "GREETING" "build args stay out of Env"
assert_eq '["/bin/sh","-c"]' "$(jq -c .config.Entrypoint <<<"$CFG")" "Entrypoint"
assert_eq '["cat /opt/app/greeting.txt"]' "$(jq -c .config.Cmd <<<"$CFG")" "Cmd"
assert_eq 'drydock test' "$(jq -r '.config.Labels["org.example.name"]' <<<"$CFG")" "label with spaces"
assert_eq 'test' "$(jq -r '.config.Labels["org.example.mode"]' <<<"$CFG")" "label expanded from ENV"
assert_eq '1' "$(jq -r '.config.Labels["drydock.test.tag"]' <<<"$CFG")" "base image label inherited"
assert_eq '["53/udp","8080/tcp"]' "$(jq -c '.config.ExposedPorts | keys' <<<"$CFG")" "ExposedPorts"
assert_eq '["/data"]' "$(jq -c '.config.Volumes | keys' <<<"$CFG")" "Volumes"
assert_eq 'SIGTERM' "$(jq -r .config.StopSignal <<<"$CFG")" "StopSignal"
assert_eq '["CMD-SHELL","cat /opt/app/greeting.txt"]' "$(jq -c .config.Healthcheck.Test <<<"$CFG")" "Healthcheck"
assert_eq 30000000000 "$(jq -r .config.Healthcheck.Interval <<<"$CFG")" "Healthcheck interval (ns)"
assert_eq "$(jq '.rootfs.diff_ids | length' <<<"$CFG")" "$(jq '[.history[] | select(.empty_layer != true)] | length' <<<"$CFG")" "one history entry per layer"

rootfs test/app:1 "$WORK/fs1"
assert_eq "hello from the context" "$(cat "$WORK/fs1/opt/app/files/hello.txt")" "COPY dir contents"
assert_eq "nested" "$(cat "$WORK/fs1/opt/app/files/sub/nested.txt")" "COPY nested"
[ ! -e "$WORK/fs1/opt/app/files/ignored.key" ] || fail ".dockerignore'd file was copied"
ok ".dockerignore honoured"
assert_eq 600 "$(stat -c %a "$WORK/fs1/etc/hello-private")" "COPY --chmod"
assert_eq "hello from test" "$(cat "$WORK/fs1/opt/app/greeting.txt")" "RUN sees ARG and ENV"
assert_eq 0 "$(cat "$WORK/fs1/data/uid")" "RUN as root before USER"
[ ! -e "$WORK/fs1/etc/drydock-test" ] || fail "file removed by RUN is still in the image (whiteout lost)"
ok "deleted file is gone (whiteout)"
[ -x "$WORK/fs1/bin/busybox" ] || fail "base layer content missing"
ok "base layer content present"

log "dependency record"
DEPS=$(sed -n '2,$p' "$WORK/app.out")
assert_eq "$REG" "$(jq -r '.[0]["runtime-dependency"].registry' <<<"$DEPS")" "runtime dependency registry"
assert_eq "base/busybox" "$(jq -r '.[0]["runtime-dependency"].repository' <<<"$DEPS")" "runtime dependency repository"
assert_eq "$BASE_DIGEST" "$(jq -r '.[0]["runtime-dependency"].digest' <<<"$DEPS")" "runtime dependency digest (as pulled)"
assert_eq "test/app" "$(jq -r '.[0].image.repository' <<<"$DEPS")" "image repository"

log "cache: an unchanged rebuild runs nothing and gives the same digest"
D2=$(build app -t "$REG/test/app:2" --push --build-arg GREETING=hello)
assert_eq "$D1" "$D2" "digest of the cached rebuild"
assert_eq 5 "$(grep -c CACHED "$WORK/app.log")" "cached steps (WORKDIR, 2 COPY, 2 RUN)"
echo "changed" >"$WORK/app/src/hello.txt"
D3=$(build app -t "$REG/test/app:3" --push --build-arg GREETING=hello)
assert_ne "$D1" "$D3" "digest after changing a copied file"
rootfs test/app:3 "$WORK/fs3"
assert_eq "changed" "$(cat "$WORK/fs3/opt/app/files/hello.txt")" "changed file in rebuilt image"

log "reproducible: SOURCE_DATE_EPOCH and --no-cache twice give one digest"
R1=$(SOURCE_DATE_EPOCH=1700000000 build app --no-cache --build-arg GREETING=x)
R2=$(SOURCE_DATE_EPOCH=1700000000 build app --no-cache --build-arg GREETING=x)
assert_eq "$R1" "$R2" "reproducible digest"

log "multi-stage: only needed stages, COPY --from, --target"
mkdir -p "$WORK/multi"
cat >"$WORK/multi/Dockerfile" <<DOCKERFILE
FROM $REG/base/busybox:1 AS builder
RUN echo built > /artifact
FROM builder AS unused
RUN exit 1
FROM scratch AS final
COPY --from=builder /artifact /artifact
COPY --from=builder /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/artifact"]
DOCKERFILE
D4=$(build multi -t "$REG/test/multi:1" --push --output "oci:$WORK/multi-oci")
rootfs test/multi:1 "$WORK/fs4"
assert_eq "built" "$(cat "$WORK/fs4/artifact")" "COPY --from stage"
assert_eq "artifact bin" "$(ls "$WORK/fs4" | tr '\n' ' ' | sed 's/ $//')" "scratch stage holds only what was copied"
assert_eq "$D4" "$(layout_digest "$WORK/multi-oci" 1)" "--output oci: layout digest"
D5=$(build multi --target builder)
[[ "$D5" == sha256:* ]] || fail "--target builder"
ok "--target builder built"

log "dependencies without building"
"$DRYDOCK_BIN" build --local --dependencies-only "$WORK/multi" >"$WORK/deps.json"
assert_eq "null" "$(jq -c '.[0]["runtime-dependency"]' "$WORK/deps.json")" "scratch target has no runtime dependency"
assert_eq "base/busybox" "$(jq -r '.[0]["buildtime-dependency"][0].repository' "$WORK/deps.json")" "build-time dependency"

log "bad input is refused with a clear message and leaves nothing mounted"
mkdir -p "$WORK/syntax" "$WORK/missing" "$WORK/failing" "$WORK/escape" "$WORK/timeout"
printf 'FROM %s\nRUN echo ok\nNOTANINSTRUCTION x\n' "$REG/base/busybox:1" >"$WORK/syntax/Dockerfile"
expect_build_failure syntax "line 3"
printf 'FROM %s\nCOPY nothere.txt /x\n' "$REG/base/busybox:1" >"$WORK/missing/Dockerfile"
expect_build_failure missing "nothere.txt"
printf 'FROM %s\nRUN exit 3\n' "$REG/base/busybox:1" >"$WORK/failing/Dockerfile"
expect_build_failure failing "non-zero code: 3"
printf 'FROM %s\nRUN echo started && sleep 60\n' "$REG/base/busybox:1" >"$WORK/timeout/Dockerfile"
T_START=$(date +%s)
if "$DRYDOCK_BIN" build --local --timeout 2 "$WORK/timeout" >"$WORK/timeout.out" 2>"$WORK/timeout.log"; then
  fail "a RUN outliving --timeout should fail the build"
fi
assert_contains "$(cat "$WORK/timeout.log")" "timed out after 2s" "error for a RUN past its timeout"
[ $(($(date +%s) - T_START)) -lt 30 ] || fail "the timed-out RUN was not killed promptly"
ok "timed-out RUN killed within 30 s"
printf 'FROM %s\nCOPY ../ /x\n' "$REG/base/busybox:1" >"$WORK/escape/Dockerfile"
expect_build_failure escape "outside the build context"
mkdir -p "$WORK/symlink"
ln -s /etc "$WORK/symlink/etc-link"
printf 'FROM %s\nCOPY etc-link/passwd /x\n' "$REG/base/busybox:1" >"$WORK/symlink/Dockerfile"
expect_build_failure symlink "not found in build context"
if grep -q "$DRYDOCK_BUILD_STATE" /proc/self/mountinfo; then fail "mounts left behind under the build state"; fi
ok "no mounts left under the build state"
[ -z "$(ls -A "$DRYDOCK_BUILD_STATE/tmp")" ] || fail "scratch left behind: $(ls "$DRYDOCK_BUILD_STATE/tmp")"
ok "no scratch directories left behind"
[ -z "$(ls -A "$DRYDOCK_BUILD_STATE/run/runc" 2>/dev/null)" ] || fail "runc containers left behind"
ok "no runc containers left behind"

stop_server
echo "build: $CHECKS checks passed"
