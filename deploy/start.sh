#!/usr/bin/env bash
# Start a service deployment on this machine, each piece on 127.0.0.1 with its data under one
# state folder: Postgres (initdb + pg_ctl), Redis, the Dagster daemon, N Celery workers and,
# unless MORPH_ASSETS_WEBSERVER=0, the webserver. deploy/stop.sh stops them all.
#
#   deploy/start.sh [STATE_DIR]      (default: a new folder under ${TMPDIR:-/tmp})
#
# Settings (environment): MORPH_ASSETS_WORKERS (Celery workers, 2), MORPH_ASSETS_WORKER_CONCURRENCY
# (runs or steps per worker at once, 1), MORPH_ASSETS_PLATE_RUNS
# (plate runs at once, 2), MORPH_ASSETS_MAX_RUNS (runs at once, plate runs + 1),
# MORPH_ASSETS_WEBSERVER_HOST (127.0.0.1: the UI has no login; see the README), MORPH_ASSETS_WEBSERVER_PORT
# (a free port), MORPH_ASSETS_LAKE_ROOT / MORPH_ASSETS_SOURCE_ROOT (the lake and incoming plates).
# Prints the state folder and writes STATE_DIR/env, which the other deploy scripts source.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
py="${MORPH_ASSETS_PYTHON:-$repo/.venv/bin/python}"
bin="$(dirname "$py")"
state="${1:-$(mktemp -d "${TMPDIR:-/tmp}/morph_deploy.XXXXXX")}"
mkdir -p "$state/logs"
state="$(cd "$state" && pwd)"

pg_bin="${MORPH_ASSETS_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[[ -x "$pg_bin/pg_ctl" ]] || { echo "start.sh: no pg_ctl (install Debian's postgresql: apt-get install postgresql)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "start.sh: no redis-server (apt-get install redis-server)" >&2; exit 1; }
"$py" -c "import dagster_postgres, dagster_celery" 2>/dev/null \
  || { echo "start.sh: $py lacks dagster-postgres/dagster-celery (pip install -e '.[deploy]')" >&2; exit 1; }

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Postgres refuses to run as root: run it as the folder's owner (nobody when we are root).
pg_user="$(id -un)"
as_pg=()
if [[ "$(id -u)" == 0 ]]; then
  pg_user=nobody
  as_pg=(runuser -u nobody --)
  chmod 755 "$state"
fi
mkdir -p "$state/pg"
chown "$pg_user" "$state/pg" 2>/dev/null || true

pg_port="$(free_port)"
"${as_pg[@]}" "$pg_bin/initdb" -D "$state/pg/data" -U dagster --auth=trust >"$state/logs/initdb.log" 2>&1
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$state/pg/data" -l "$state/pg/postgres.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $pg_port -k $state/pg" start >"$state/logs/pg_ctl.log"
"${as_pg[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U dagster dagster

redis_port="$(free_port)"
mkdir -p "$state/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$state/redis" --save "" --appendonly no \
  --daemonize yes --pidfile "$state/redis/redis.pid" --logfile "$state/redis/redis.log"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.2; done
redis-cli -p "$redis_port" ping >/dev/null

plate_runs="${MORPH_ASSETS_PLATE_RUNS:-2}"
max_runs="${MORPH_ASSETS_MAX_RUNS:-$((plate_runs + 1))}"
mkdir -p "$state/dagster_home"
sed -e "s/^\(    max_concurrent_runs:\) [0-9]*/\1 $max_runs/" \
    -e "s/^\(        limit:\) [0-9]*\(  # rendered: MORPH_ASSETS_PLATE_RUNS\)/\1 $plate_runs\2/" \
    "$here/dagster.yaml" >"$state/dagster_home/dagster.yaml"

cat >"$state/env" <<ENV
export DAGSTER_HOME="$state/dagster_home"
export MORPH_ASSETS_PG_HOST=127.0.0.1 MORPH_ASSETS_PG_PORT=$pg_port MORPH_ASSETS_PG_USER=dagster
export MORPH_ASSETS_PG_PASSWORD="" MORPH_ASSETS_PG_DB=dagster
export MORPH_ASSETS_CELERY_BROKER=redis://127.0.0.1:$redis_port/0 MORPH_ASSETS_CELERY_BACKEND=redis://127.0.0.1:$redis_port/1
export MORPH_ASSETS_LAKE_ROOT="${MORPH_ASSETS_LAKE_ROOT:-$repo/data_lake}"
export MORPH_ASSETS_SOURCE_ROOT="${MORPH_ASSETS_SOURCE_ROOT:-${MORPH_ASSETS_LAKE_ROOT:-$repo/data_lake}/source}"
export PYTHONPATH="$repo\${PYTHONPATH:+:\$PYTHONPATH}"
export MORPH_ASSETS_STATE="$state" MORPH_ASSETS_PG_BIN="$pg_bin" MORPH_ASSETS_REPO="$repo"
export PATH="$bin:\$PATH"
ENV
# shellcheck disable=SC1091
source "$state/env"
cd "$repo"

# Each long-running piece in its own session, so stop.sh (and a test) can end it with its children.
start_piece() {  # name command...
  local name="$1"; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

start_piece daemon "$bin/dagster-daemon" run -w "$repo/workspace.yaml"
# The workers' own Celery settings: dagster_celery.app reads a module named dagster_celery_config
# (what `dagster-celery worker start -y` writes). Acks and prefetch are decided by the worker, so
# the run launcher's config_source in dagster.yaml cannot set them: without task_acks_late a busy
# worker reserves the next run's task, and when it dies that run stays STARTING (seen in the soak).
mkdir -p "$state/celery"
cat >"$state/celery/dagster_celery_config.py" <<PY
broker_url = "$MORPH_ASSETS_CELERY_BROKER"
result_backend = "$MORPH_ASSETS_CELERY_BACKEND"
task_acks_late = True
task_track_started = True
worker_prefetch_multiplier = 1
PY
for i in $(seq "${MORPH_ASSETS_WORKERS:-2}"); do
  # One run at a time, in a thread of the worker's main process: the main loop still answers the
  # launcher's pings, and the run may start its own process pool for the wells (a prefork child
  # is daemonic and may not). The run spreads its wells over the machine's cores itself.
  PYTHONPATH="$state/celery:$PYTHONPATH" start_piece "worker$i" "$bin/celery" -A dagster_celery.app worker \
    -n "morph$i@%h" -Q dagster --pool threads --concurrency "${MORPH_ASSETS_WORKER_CONCURRENCY:-1}" \
    --prefetch-multiplier 1 --loglevel INFO
done
if [[ "${MORPH_ASSETS_WEBSERVER:-1}" != 0 ]]; then
  web_port="${MORPH_ASSETS_WEBSERVER_PORT:-$(free_port)}"
  start_piece webserver "$bin/dagster-webserver" -w "$repo/workspace.yaml" \
    -h "${MORPH_ASSETS_WEBSERVER_HOST:-127.0.0.1}" -p "$web_port"
  echo "export MORPH_ASSETS_WEBSERVER_URL=http://${MORPH_ASSETS_WEBSERVER_HOST:-127.0.0.1}:$web_port" >>"$state/env"
  echo "webserver: http://${MORPH_ASSETS_WEBSERVER_HOST:-127.0.0.1}:$web_port"
fi
echo "state: $state (source $state/env; stop with deploy/stop.sh $state)"
