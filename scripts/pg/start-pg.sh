#!/usr/bin/env bash
# start-pg.sh - a throwaway PostgreSQL for tests and trials: initdb in a
# fresh temp dir, listening only on a Unix socket in that dir (no TCP), run
# as the `postgres` user when started by root (the server refuses root).
#
# Needs (Debian 12): apt-get install -y postgresql
# Usage:   eval "$(scripts/pg/start-pg.sh)"   # exports PG_DIR, PG_URL
#          scripts/pg/stop-pg.sh "$PG_DIR"
# Output (stdout): shell "export" lines; everything else goes to stderr.
# PG_URL is a libpq URI for database `drydock` (created empty).
set -euo pipefail

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || { echo "start-pg: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi

D=$(mktemp -d "${TMPDIR:-/tmp}/pglocal.XXXXXX")
[ ${#AS[@]} = 0 ] || chown postgres: "$D"
fail() {
  echo "start-pg: FAILED: $*" >&2
  [ -f "$D/log" ] && tail -n 20 "$D/log" >&2
  [ -f "$D/data/postmaster.pid" ] && "${AS[@]}" "$BIN/pg_ctl" -D "$D/data" -m immediate stop >/dev/null 2>&1
  exit 1
}
"${AS[@]}" "$BIN/initdb" -D "$D/data" -U postgres -A trust -E UTF8 --no-locale >"$D/initdb.log" 2>&1 ||
  { cat "$D/initdb.log" >&2; fail "initdb"; }
# Throwaway data: no fsync. Only the socket in $D; no TCP port to collide on.
"${AS[@]}" "$BIN/pg_ctl" -D "$D/data" -l "$D/log" -w -t 60 \
  -o "-c listen_addresses='' -c unix_socket_directories='$D' -c fsync=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null 2>&1 || fail "pg_ctl start"
"${AS[@]}" "$BIN/createdb" -h "$D" -U postgres drydock || fail "createdb drydock"
echo "start-pg: ready in $D" >&2
cat >"$D/pg.env" <<EOT
export PG_DIR='$D'
export PG_URL='postgresql:///drydock?host=$D&user=postgres'
EOT
cat "$D/pg.env"
