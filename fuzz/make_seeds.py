#!/usr/bin/env python3
"""Writes the committed seed corpus under fuzz/corpus/<target>/.

Seeds are small valid (or nearly valid) inputs that reach deep into each
parser; libFuzzer mutates from there. Some come from the unit tests' sample
payloads. Rerun after changing this file; seeds found by campaigns and
crash reproducers are added by hand next to them (see docs/fuzzing.md).
"""
import gzip
import hashlib
import io
import os
import re
import tarfile

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)
CORPUS = os.path.join(ROOT, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def raw_strings(path, pattern=r'R"\((.*?)\)"'):
    with open(os.path.join(REPO, path)) as f:
        return re.findall(pattern, f.read(), re.S)


def d(c):
    return "sha256:" + hashlib.sha256(c.encode()).hexdigest()


# ---------------------------------------------------------------- manifest ---
# The first byte picks the Content-Type (see fuzz/manifest.cc).
OCI_MANIFEST = '''{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":7},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":32,
"annotations":{"org.opencontainers.image.title":"a.tgz"}},
{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"%s",
"size":1,"urls":["https://example.com/l"]}],
"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":9},
"annotations":{"a":"b"}}''' % (d("c"), d("l"), d("f"), d("s"))
ARTIFACT = '''{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"artifactType":"application/vnd.example.sbom","config":{"mediaType":
"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]}''' % d("{}")
OCI_INDEX = '''{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":5,
"platform":{"architecture":"amd64","os":"linux"}}]}''' % d("m")
DOCKER = '''{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":7},
"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"%s",
"size":32}]}''' % (d("c"), d("l"))
LIST = '''{"schemaVersion":2,"mediaType":
"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":
"application/vnd.docker.distribution.manifest.v2+json","digest":"%s","size":5,
"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}''' % d("m")
put("manifest", "oci_manifest", b"\x01" + OCI_MANIFEST.encode())
put("manifest", "oci_artifact", b"\x00" + ARTIFACT.encode())
put("manifest", "oci_index", b"\x02" + OCI_INDEX.encode())
put("manifest", "docker_manifest", b"\x03" + DOCKER.encode())
put("manifest", "docker_list", b"\x04" + LIST.encode())
for i, m in enumerate(raw_strings("tests/unit/manifest_test.cc")):
    if m.lstrip().startswith("{"):
        put("manifest", "unit_%02d" % i, b"\x05" + m.encode())

# --------------------------------------------------------------- reference ---
for i, r in enumerate([
        "busybox", "library/busybox:1.36", "docker.io/library/busybox:latest",
        "localhost:5000/team/app:v1", "registry.example.com:443/a/b/c@" + d("x"),
        "app:1@" + d("y"), "[::1]:5000/x:y", "my-registry.local/a__b/c.d-e:Tag_1.2",
        "sha256:" + "0" * 64, "a" * 130]):
    put("reference", "ref_%02d" % i, r)

# -------------------------------------------------------------- dockerfile ---
DOCKERFILES = [
    '''# syntax=docker/dockerfile:1
ARG BASE=busybox:1.36 VERSION="1 2"
FROM ${BASE} AS build
ENV A=1 B="two words" C=${A:-x}
LABEL org.opencontainers.image.title="t" k=v
WORKDIR /src/${A}
COPY --chown=1:2 --chmod=755 --link a b* /dst/
ADD --checksum=sha256:abc https://example.com/f.tgz /f
RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=s \\
    echo $A && \\
    echo "${B%% *}" ${C/x/y} ${D:?unset}
RUN <<EOF bash
echo heredoc $A
EOF
COPY <<-"END" /etc/conf
	literal $A
	END
FROM build
ONBUILD RUN echo onbuild
HEALTHCHECK --interval=5s CMD ["curl", "-f", "http://localhost/"]
SHELL ["/bin/sh", "-c"]
EXPOSE 80/tcp 53/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/app"]
CMD --help
''',
    '''# escape=`
FROM mcr.microsoft.com/windows/servercore
RUN dir c:\\ `
    && echo done
COPY --from=0 c:\\a c:\\b
''',
    '''FROM scratch
MAINTAINER someone
ENV legacy form value
ARG a b=2
COPY ["a b", "/c d/"]
RUN ["sh", "-c", "echo $HOME"]
''',
]
for i, text in enumerate(DOCKERFILES):
    put("dockerfile", "df_%02d" % i, text)

# ------------------------------------------------------------ shell_expand ---
# A byte choosing the escape (see fuzz/shell_expand.cc), variables, NUL, word.
for i, (esc, env, word) in enumerate([
        (0, "A=1\nB=two words\nP=/usr/local/bin", "${A:-x}$B'$B'\"$B\"\\$A ${P##*/} ${P%/*} ${P//o/0}"),
        (0, "", "${U:+set}${U-d}${U?msg}"),
        (1, "X=a", "`$X ${X:-`}} \"a`\"b\""),
        (0, "V=abc", "${V#a} ${V%c} ${V/b/B} $ {V} ${#V} ${V:1}"),
        (0, "", "<<EOF <<-'END' plain"),
]):
    put("shell_expand", "sh_%02d" % i, bytes([esc]) + env.encode() + b"\0" + word.encode())

# ------------------------------------------------------------ dockerignore ---
put("dockerignore", "ignore_00", "# comment\n*.log\n!keep.log\n**/node_modules\n/build/\n"
    "docs/**/*.md\n[a-c]?.txt\n\\#literal\n\0a.log\nkeep.log\nx/node_modules/y\nbuild/z\n"
    "docs/a/b/c.md\nb1.txt\n#literal")
put("dockerignore", "ignore_01", "**\n!src\n!src/**\nsrc/**/*_test.go\n\0src/a.go\nsrc/b/c_test.go\nvendor")
put("dockerignore", "ignore_02", "../x\n./a/../b\n  spaced  \n[^a]\n**.go\n\0b\nc.go\nd/e.go")

# --------------------------------------------------------------- task_file ---
# Values YAML, NUL, task file (see fuzz/task_file.cc); or just a task file.
n = 0
for s in raw_strings("tests/unit/task_file_test.cc") + raw_strings("tests/unit/render_test.cc"):
    if "steps:" in s or "version:" in s:
        put("task_file", "unit_%02d" % n, s)
        n += 1
put("task_file", "values_00", '''image:
  repo: team/app
list: [a, b]
\0version: v1.1.0
alias:
  values:
    greet: echo hi
  src: [aliases.yaml]
stepTimeout: 60
env: [A=1]
secrets:
  - id: s
    keyvault: https://kv/secrets/x
volumes:
  - name: v
    secret:
      f.txt: aGVsbG8=
steps:
  - id: build
    build: -t {{.Run.Registry}}/{{.Values.image.repo}}:{{.Run.ID}} -f Dockerfile .
  - id: test
    cmd: $bash -c 'echo {{ .Values.list | join "," }} $ID'
    when: [build]
    volumeMounts:
      - name: v
        mountPath: /v
    retries: 2
    detach: true
  - push: ["{{.Run.Registry}}/{{.Values.image.repo}}:{{.Run.ID}}"]
    when: ["-"]
''')

# ---------------------------------------------------------------- template ---
TEMPLATES = [
    '{{ .Run.ID }} {{ .Values.image.repo }}:{{ .Values.image.tag | default "latest" }}',
    '{{ range $i, $v := .Values.list }}{{ $i }}={{ printf "%v/%q/%5.2f" $v $v 1.5 }}\n{{ end }}',
    '{{ if and .Values.yes (gt .Values.n 2) }}big{{ else if .Values.none }}x{{ else }}small{{ end }}',
    '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .Run.Branch }}{{ block "b" . }}b{{ end }}',
    '{{ with $x := index .Values.list 3 }}{{ $x.k | upper | quote }}{{ end }}{{/* c */}}',
    '{{- .Values.f | int -}} {{ len .Values.list }} {{ slice "abcdef" 1 3 }} {{ html "<a>" }}',
    '{{ "a,b,c" | splitList "," | toJson }} {{ b64enc "x" }} {{ sha256sum "x" }} {{ now | date "2006" }}',
    '{{ range .Values.empty }}{{ else }}empty{{ break }}{{ end }}{{ eq 1 1 }} {{ not true }}',
]
for i, t in enumerate(TEMPLATES + raw_strings("tests/unit/template_test.cc")):
    put("template", "tmpl_%02d" % i, t)

# -------------------------------------------------------------------- cron ---
for i, c in enumerate(["* * * * *", "*/15 9-17 * * Mon-Fri", "0 0 29 2 *", "5,10-20/3 */2 1 jan,jul sun",
                       "0 0 30 2 *", "7 */5 * * mon,thu", "59 23 31 12 7", "0 12 */2 * 1/2"]):
    put("cron", "cron_%02d" % i, c)

# ----------------------------------------------------------------- webhook ---
# Provider byte, event byte, body (see fuzz/webhook.cc for the tables).
PROVIDERS = {"GitHub": 0, "Gitea": 1, "GitLab": 3, "BitbucketCloud": 4, "BitbucketServer": 4}
EVENTS = {  # event byte per sample kind
    "GitHubPush": 0, "GitHubBranchDelete": 0, "GitHubTagPush": 0, "GitHubPullRequest": 1,
    "GitHubPing": 2, "GiteaPush": 0, "GiteaBranchDelete": 0, "GiteaPullRequest": 1,
    "GitLabPush": 0, "GitLabBranchDelete": 0, "GitLabMergeRequest": 1,
    "BitbucketCloudPush": 0, "BitbucketCloudBranchDelete": 0, "BitbucketCloudPullRequest": 1,
    "BitbucketServerPush": 5, "BitbucketServerBranchDelete": 5, "BitbucketServerPullRequest": 6,
}
for name, body in re.findall(r'constexpr char k(\w+)\[\] = R"\((.*?)\)"',
                             open(os.path.join(REPO, "tests/unit/webhook_test.cc")).read(), re.S):
    if name not in EVENTS:
        continue
    prov = next(v for k, v in PROVIDERS.items() if name.startswith(k))
    put("webhook", name, bytes([prov, EVENTS[name]]) + body.encode())

# --------------------------------------------------------------- http_head ---
# A byte giving the read size (0: all at once), then the bytes on the wire.
for i, (step, req) in enumerate([
        (0, "GET /v2/ HTTP/1.1\r\nHost: r\r\nAccept: */*\r\n\r\n"),
        (7, "PUT /v2/a/b/manifests/latest HTTP/1.1\r\nHost: r\r\nContent-Type: "
            "application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 2\r\n\r\n{}"),
        (3, "PATCH /v2/a/blobs/uploads/u?x=%41&y=+ HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: "
            "chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0;ext=1\r\nTrailer: t\r\n\r\n"),
        (0, "HEAD /v2/a/blobs/sha256:00 HTTP/1.0\r\nConnection: keep-alive\r\n"
            "Authorization: Bearer x.y.z\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        (1, "POST /api/v1/contexts HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n"
            "X-Folded: a\r\n\tb\r\n\r\nabcde"),
]):
    put("http_head", "req_%02d" % i, bytes([step]) + req.encode())


# ------------------------------------------------------------------- tars ---
def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime = 1700000000
            info.type = e.get("type", tarfile.REGTYPE)
            info.mode = e.get("mode", 0o644)
            info.linkname = e.get("link", "")
            if "pax" in e:
                info.pax_headers = e["pax"]
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.size else None)
    return buf.getvalue()


def gz(b):
    return gzip.compress(b, mtime=0)


DIR = tarfile.DIRTYPE
LAYER = [
    {"name": "etc/", "type": DIR, "mode": 0o755},
    {"name": "etc/hostname", "data": b"box\n"},
    {"name": "bin/", "type": DIR, "mode": 0o755},
    {"name": "bin/busybox", "data": b"\x7fELF", "mode": 0o755},
    {"name": "bin/sh", "type": tarfile.SYMTYPE, "link": "/bin/busybox"},
    {"name": "bin/ls", "type": tarfile.LNKTYPE, "link": "bin/busybox"},
    {"name": "etc/.wh.old.conf"},
    {"name": "var/.wh..wh..opq"},
    {"name": "var/lib/x", "data": b"x", "pax": {"SCHILY.xattr.user.k": "v"}},
    {"name": "./usr//local/", "type": DIR},
]
put("layer_unpack", "layer_tar", tar_bytes(LAYER))
put("layer_unpack", "layer_tgz", gz(tar_bytes(LAYER)))
put("layer_unpack", "layer_pax", tar_bytes(LAYER, tarfile.PAX_FORMAT))
put("layer_unpack", "layer_dotdot", tar_bytes([{"name": "../evil", "data": b"x"}]))
try:
    import zstandard  # optional: a zstd layer
    put("layer_unpack", "layer_zst", zstandard.ZstdCompressor().compress(tar_bytes(LAYER)))
except ImportError:
    pass

CONTEXT = [
    {"name": "./", "type": DIR},
    {"name": "Dockerfile", "data": b"FROM busybox\nCOPY . /app\n"},
    {"name": ".dockerignore", "data": b"*.log\n"},
    {"name": "src/", "type": DIR},
    {"name": "src/main.c", "data": b"int main(){}\n"},
    {"name": "src/link", "type": tarfile.SYMTYPE, "link": "main.c"},
    {"name": "src/up", "type": tarfile.SYMTYPE, "link": "../Dockerfile"},
    {"name": "src/hard", "type": tarfile.LNKTYPE, "link": "src/main.c"},
    {"name": "run.sh", "data": b"#!/bin/sh\n", "mode": 0o755},
]
put("context_extract", "context_tar", tar_bytes(CONTEXT))
put("context_extract", "context_tgz", gz(tar_bytes(CONTEXT)))
put("context_extract", "context_pax", tar_bytes(CONTEXT, tarfile.PAX_FORMAT))
put("context_extract", "context_escape",
    tar_bytes([{"name": "a", "type": tarfile.SYMTYPE, "link": "../../etc"},
               {"name": "a/passwd", "data": b"x"}]))
