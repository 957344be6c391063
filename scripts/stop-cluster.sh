#!/usr/bin/env bash
# stop-cluster.sh DIR - stops what start-cluster.sh started in DIR (agents
# and replicas with SIGTERM, then radosgw and PostgreSQL) and removes DIR.
# CLUSTER_LOGS_TO=DIR first copies the processes' logs there (as cluster-*.log).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
D=${1:-${CLUSTER_DIR:-}}
[ -n "$D" ] && [ -d "$D" ] || { echo "usage: stop-cluster.sh DIR (or set CLUSTER_DIR)" >&2; exit 2; }
case "$(basename -- "$D")" in drydock-cluster.*) ;; *) echo "stop-cluster: $D is not a start-cluster.sh dir" >&2; exit 2 ;; esac
if [ -f "$D/pids" ]; then
  pids=$(tac "$D/pids")
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 100); do
    alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
fi
# Tests read the logs after the processes have exited (sanitizer reports at exit).
if [ -n "${CLUSTER_LOGS_TO:-}" ]; then
  for f in "$D"/*.log; do [ -f "$f" ] && cp "$f" "$CLUSTER_LOGS_TO/cluster-$(basename "$f")"; done
fi
[ -f "$D/s3.dir" ] && "$ROOT/scripts/s3/stop-s3.sh" "$(cat "$D/s3.dir")"
[ -f "$D/pg.dir" ] && "$ROOT/scripts/pg/stop-pg.sh" "$(cat "$D/pg.dir")"
rm -rf -- "$D"
