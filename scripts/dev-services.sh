#!/usr/bin/env bash
# Runs the platform's services locally against this machine's PostgreSQL,
# a local Redis Cluster and RabbitMQ — the same wiring as the cluster, with
# the env contract from services/README.md. Ctrl-C stops everything it started.
#
#   scripts/dev-services.sh                 # all services that have src/main.ts
#   scripts/dev-services.sh users gateway   # only these
#
# Steps: start the Redis Cluster (scripts/redis-cluster.sh), create database
# noa_dev and RabbitMQ vhost noa_dev if missing, run the migrations, start
# s3rver for storage, then each service with tsx (no build step):
#   gateway :8080  users :8081  workflows :8082  storage :8083  worker :8084
#
# Overrides: NOA_DEV_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# NOA_DEV_AMQP_BASE (default amqp://guest:guest@127.0.0.1:5672), LOG_LEVEL (default info).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# `node --import tsx` resolves tsx from the working directory: run from the repository wherever called from.
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE="$(command -v node)"

PG_ADMIN_URL="${NOA_DEV_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME=noa_dev
DATABASE_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
AMQP_BASE="${NOA_DEV_AMQP_BASE:-amqp://guest:guest@127.0.0.1:5672}"
VHOST=noa_dev
S3_PORT=4569
S3_DIR=/tmp/noa-dev-s3

declare -A PORTS=([gateway]=8080 [users]=8081 [workflows]=8082 [storage]=8083 [worker]=8084)
ORDER=(users workflows storage worker gateway)

log() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }

# Which services to run: the arguments, or every one that has an entry point.
wanted=("$@")
selected=()
for svc in "${ORDER[@]}"; do
  [ -f "$ROOT/services/$svc/src/main.ts" ] || continue
  if [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $svc "* ]]; then selected+=("$svc"); fi
done
for w in "${wanted[@]}"; do
  [[ -n "${PORTS[$w]:-}" && -f "$ROOT/services/$w/src/main.ts" ]] || { echo "dev-services.sh: no service '$w' (services/$w/src/main.ts)" >&2; exit 64; }
done
[ ${#selected[@]} -gt 0 ] || { echo "dev-services.sh: no services/*/src/main.ts yet" >&2; exit 1; }

# --- dependencies -----------------------------------------------------------
"$ROOT/scripts/redis-cluster.sh" start >&2

command -v psql >/dev/null || { echo "dev-services.sh: psql not found (apt-get install postgresql-client)" >&2; exit 2; }
if [ "$(psql "$PG_ADMIN_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
  log "creating database $DB_NAME"
  psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB_NAME"
fi
log "migrating $DB_NAME"
DATABASE_URL="$DATABASE_URL" LOG_LEVEL=warn "$NODE" --import tsx "$ROOT/services/migrate/src/main.ts" migrate

# A vhost of its own keeps local queues apart from tests; without rabbitmqctl
# rights (not root) fall back to the default vhost.
AMQP_URL="$AMQP_BASE/$VHOST"
if command -v rabbitmqctl >/dev/null && rabbitmqctl -q list_vhosts >/dev/null 2>&1; then
  rabbitmqctl -q list_vhosts | grep -qx "$VHOST" || { log "creating RabbitMQ vhost $VHOST"; rabbitmqctl -q add_vhost "$VHOST"; }
  user="${AMQP_BASE#amqp://}"; user="${user%%:*}"
  rabbitmqctl -q set_permissions -p "$VHOST" "$user" '.*' '.*' '.*'
else
  log "rabbitmqctl unavailable: using the default vhost"
  AMQP_URL="$AMQP_BASE/%2F"
fi

# --- services ----------------------------------------------------------------
pids=()
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  log "stopping ${#pids[@]} processes"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Services drain within SHUTDOWN_TIMEOUT_MS (5 s here); anything still
  # running after that is stuck and gets SIGKILL.
  for _ in $(seq 80); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then log "process $pid did not stop; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait "${pids[@]}" 2>/dev/null || true
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# Each process runs in its own session (setsid), so Ctrl-C reaches only this
# script, which then sends one SIGTERM — a second signal would make the
# services skip draining. Output lines are prefixed with the process name; the
# prefixer ignores Ctrl-C so it keeps reading until the service has written
# its last shutdown line (a service writing into a dead pipe hangs). $! stays
# the process itself (setsid execs it directly in a non-interactive shell).
start() {
  local name=$1; shift
  setsid "$@" > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

if [[ " ${selected[*]} " == *" storage "* ]]; then
  mkdir -p "$S3_DIR"
  start s3rver s3rver -d "$S3_DIR" -a 127.0.0.1 -p "$S3_PORT" --silent --configure-bucket noa-dev
fi

# Local-only values: a fixed development JWT secret (never used anywhere else)
# and s3rver's static keys.
common_env=(
  LOG_LEVEL="${LOG_LEVEL:-info}"
  SHUTDOWN_TIMEOUT_MS=5000
  DATABASE_URL="$DATABASE_URL"
  DATABASE_POOL_MAX=5
  REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
  AMQP_URL="$AMQP_URL"
  JWT_SECRET=local-development-only-secret-0123456789
  JWT_ISSUER=noa
  JWT_AUDIENCE=noa
)
for svc in "${selected[@]}"; do
  extra=()
  case $svc in
    gateway)
      extra=(USERS_URL=http://127.0.0.1:8081 WORKFLOWS_URL=http://127.0.0.1:8082 STORAGE_URL=http://127.0.0.1:8083) ;;
    workflows | worker)
      # A local webhook receiver is on localhost: allowed here only.
      extra=(WEBHOOK_ALLOW_PRIVATE_NETWORKS=true) ;;
    storage)
      extra=(S3_BUCKET=noa-dev AWS_REGION=us-east-1 S3_ENDPOINT="http://127.0.0.1:$S3_PORT" S3_FORCE_PATH_STYLE=true
             AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER) ;;
  esac
  log "starting $svc on :${PORTS[$svc]}"
  start "$svc" env "${common_env[@]}" "${extra[@]}" PORT="${PORTS[$svc]}" SERVICE_NAME="$svc" \
    "$NODE" --import tsx "$ROOT/services/$svc/src/main.ts"
done

log "running: ${selected[*]} (gateway on http://127.0.0.1:8080 when started). Ctrl-C stops."
# Exit (and stop the rest) as soon as any process dies.
set +e
wait -n "${pids[@]}"
code=$?
log "a process exited with $code; stopping the others"
exit "$code"
