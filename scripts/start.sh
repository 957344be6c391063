#!/usr/bin/env bash
# Installs dependencies, builds a release binary and starts Drydock on its
# embedded defaults: SQLite + local files in ./data (or $DRYDOCK_DATA),
# listening on 127.0.0.1:5000. Extra arguments go to `drydock serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release --target drydock
exec ./build-release/src/drydock serve "$@"
