#!/usr/bin/env bash
# stop-pg.sh DIR - stops the server start-pg.sh started in DIR (immediately:
# the data is throwaway) and removes DIR.
set -uo pipefail
D=${1:-${PG_DIR:-}}
[ -n "$D" ] && [ -d "$D" ] || { echo "usage: stop-pg.sh DIR (or set PG_DIR)" >&2; exit 2; }
case "$(basename -- "$D")" in pglocal.*) ;; *) echo "stop-pg: $D is not a start-pg.sh dir" >&2; exit 2 ;; esac
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
[ -f "$D/data/postmaster.pid" ] && "${AS[@]}" "$BIN/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1
rm -rf -- "$D"
