#!/usr/bin/env bash
# Installs every Debian package Drydock's build, tests and benchmarks need.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format git
  # fuzzing (tests/fuzz, bench/fuzz): clang, its libFuzzer and sanitizer
  # runtimes (only recommended by clang, so named), llvm-symbolizer for stacks
  clang libclang-rt-14-dev llvm
  # libraries (see DEVELOPERS.md: chosen libraries)
  libboost-dev libboost-system-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libarchive-dev zlib1g-dev libzstd-dev libisal-dev libcrypt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librpm-dev        # rpm headers of an image's rpmdb.sqlite (SBOMs)
  prometheus-cpp-dev  # /metrics: Prometheus families and the text format (metrics/)
  # real peers used by tests and benchmarks
  skopeo buildah podman runc busybox-static docker-registry
  debootstrap       # a real Debian base image (tests: rebase onto a patched Debian)
  rpm               # rpmbuild + rpm --root: an image with a real rpm database (SBOM tests)
  qemu-user-static  # RUN for other platforms (multi-platform builds): QEMU user-mode emulation
  curl jq wrk apache2-utils uidmap fuse-overlayfs openssl
  util-linux-extra  # fincore: bench/registry checks the page cache
  openssh-client    # ssh-agent: RUN --mount=type=ssh tests
  sqlite3           # the schema migration test opens an old-format database
  # the build sandbox: outbound NAT for runs; tests make network namespaces
  slirp4netns iproute2
  # a real S3 endpoint for the S3 blob store's tests (scripts/s3/start-s3.sh):
  # a throwaway single-node Ceph (monitor, OSD, radosgw)
  ceph-mon ceph-osd radosgw
  # PostgreSQL: the metadata store's second backend (libpq) and a real server for
  # its tests (scripts/pg/start-pg.sh)
  postgresql libpq-dev
  # a real load balancer in front of a cluster's replicas (start-cluster.sh --balancer)
  haproxy
  # promtool: the metrics test parses /metrics with Prometheus's own checker
  prometheus
  # the web dashboard's end-to-end tests: Playwright drives Debian's Chromium
  chromium
)

# The web dashboard is built with node and npm: Debian's, unless the machine
# has its own (a nodejs package that bundles npm conflicts with Debian's npm).
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Multi-platform tests build on a real arm64 busybox: Debian's
# busybox-static:arm64, downloaded (not installed) into the tests' cache.
cache=/var/cache/drydock-tests
if ! ls "$cache"/busybox-static_*_arm64.deb >/dev/null 2>&1; then
  $SUDO mkdir -p "$cache"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
  fi
  (cd "$cache" && $SUDO apt-get download -qq busybox-static:arm64 2>/dev/null) ||
    { $SUDO apt-get update -qq && (cd "$cache" && $SUDO apt-get download -qq busybox-static:arm64); }
  echo "install-deps: $(ls "$cache"/busybox-static_*_arm64.deb)"
fi
