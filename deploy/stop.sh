#!/usr/bin/env bash
# Stop everything deploy/start.sh started from STATE_DIR: webserver, daemon, workers (each with
# its session's children), Redis, Postgres. Safe to call twice or on a half-started folder.
set -euo pipefail
state="${1:?usage: deploy/stop.sh STATE_DIR}"
[[ -d "$state" ]] || { echo "stop.sh: no state folder $state" >&2; exit 1; }

stop_group() {  # pidfile: TERM the session, wait up to 20 s, then KILL what is left
  local pid
  pid="$(cat "$1")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$1"
}
for pidfile in "$state"/webserver.pid "$state"/daemon.pid "$state"/worker*.pid; do
  [[ -f "$pidfile" ]] && stop_group "$pidfile"
done
if [[ -f "$state/redis/redis.pid" ]]; then
  pid="$(cat "$state/redis/redis.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
fi
if [[ -f "$state/pg/data/postmaster.pid" ]]; then
  pg_bin="${MORPH_ASSETS_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
  as_pg=()
  [[ "$(id -u)" == 0 ]] && as_pg=(runuser -u nobody --)
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null || true
fi
echo "stopped: $state"
