#!/usr/bin/env bash
# A local six-node Redis Cluster (3 masters + 3 replicas) on loopback, for
# service tests and `scripts/dev-services.sh`. Production runs the RedisCluster
# component; this gives developers the same client semantics (MOVED/ASK
# redirects, hash slots, no cross-slot commands) without Kubernetes.
#
#   scripts/redis-cluster.sh start    # idempotent: starts what is missing, forms the cluster once
#   scripts/redis-cluster.sh stop     # shuts the six nodes down (keeps nothing: appendonly off)
#   scripts/redis-cluster.sh status   # exit 0 when cluster_state:ok
#
# Env: NOA_REDIS_CLUSTER_DIR (default /tmp/noa-redis-cluster),
#      NOA_REDIS_CLUSTER_BASE_PORT (default 7000; six consecutive ports).
set -euo pipefail

DIR="${NOA_REDIS_CLUSTER_DIR:-/tmp/noa-redis-cluster}"
BASE_PORT="${NOA_REDIS_CLUSTER_BASE_PORT:-7000}"
HOST=127.0.0.1
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=("$((BASE_PORT + i))"); done

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "redis-cluster.sh: '$1' not found. Run the setup script (scripts/setup.sh, or: apt-get install -y redis-server redis-tools)." >&2
    exit 2
  fi
}

is_up() { redis-cli -h "$HOST" -p "$1" ping 2>/dev/null | grep -q PONG; }

is_down() { ! is_up "$1"; }

# A node answering on one of our ports is ours only when it runs with this
# directory's pid file: a Redis started by something else (another
# NOA_REDIS_CLUSTER_DIR, a benchmark, a system service) is neither joined to
# this cluster nor shut down by `stop`.
owned() {
  local pidfile="$DIR/$1/redis.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(redis-cli -h "$HOST" -p "$1" info server 2>/dev/null | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
  [ -n "$pid" ] && [ "$pid" = "$(cat "$pidfile")" ]
}

foreign() { is_up "$1" && ! owned "$1"; }

cluster_ok() { redis-cli -h "$HOST" -p "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

# Slots assigned anywhere means the cluster was formed before (nodes.conf kept
# in $DIR lets restarted nodes rejoin); creating it again would fail.
cluster_formed() {
  local assigned
  assigned=$(redis-cli -h "$HOST" -p "${PORTS[0]}" cluster info 2>/dev/null | tr -d '\r' | awk -F: '/^cluster_slots_assigned:/ {print $2}')
  [ -n "$assigned" ] && [ "$assigned" -gt 0 ]
}

start_node() {
  local port=$1 nodedir="$DIR/$1"
  mkdir -p "$nodedir"
  cat >"$nodedir/redis.conf" <<EOF
bind $HOST
port $port
protected-mode yes
daemonize yes
cluster-enabled yes
cluster-config-file $nodedir/nodes.conf
cluster-node-timeout 5000
appendonly no
save ""
dir $nodedir
pidfile $nodedir/redis.pid
logfile $nodedir/redis.log
EOF
  # Close the lock fd: a daemon inheriting it would hold the lock forever.
  redis-server "$nodedir/redis.conf" 9>&-
}

wait_until() {
  local what=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  echo "redis-cluster.sh: timed out waiting for $what" >&2
  return 1
}

start() {
  need redis-server
  need redis-cli
  mkdir -p "$DIR"
  # Several test runs may call `start` at once; one forms the cluster, the rest wait.
  exec 9>"$DIR.lock"
  flock 9
  local port
  for port in "${PORTS[@]}"; do
    if foreign "$port"; then
      echo "redis-cluster.sh: $HOST:$port already answers, but not as a node started from $DIR (no matching $DIR/$port/redis.pid). Stop that Redis, or use other ports (NOA_REDIS_CLUSTER_BASE_PORT) or its directory (NOA_REDIS_CLUSTER_DIR)." >&2
      exit 1
    fi
  done
  for port in "${PORTS[@]}"; do
    if ! is_up "$port"; then start_node "$port"; fi
  done
  for port in "${PORTS[@]}"; do wait_until "node $port" 50 is_up "$port"; done
  if ! cluster_formed; then
    local addrs=()
    for port in "${PORTS[@]}"; do addrs+=("$HOST:$port"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 || {
      cat "$DIR/create.log" >&2
      exit 1
    }
  fi
  wait_until "cluster_state:ok" 150 cluster_ok
  echo "redis cluster ok: $(IFS=,; echo "${PORTS[*]/#/$HOST:}")"
}

stop() {
  need redis-cli
  local port stopped=() left=()
  for port in "${PORTS[@]}"; do
    if foreign "$port"; then
      left+=("$port")
    elif is_up "$port"; then
      redis-cli -h "$HOST" -p "$port" shutdown nosave >/dev/null 2>&1 || true
      stopped+=("$port")
    fi
  done
  # Nodes rewrite nodes.conf while shutting down: wait before removing it.
  for port in "${stopped[@]}"; do wait_until "node $port to stop" 50 is_down "$port"; done
  if [ ${#left[@]} -gt 0 ]; then
    echo "redis-cluster.sh: left $(IFS=,; echo "${left[*]/#/$HOST:}") running: not started from $DIR" >&2
  fi
  # Forget the topology too, so the next start forms a fresh cluster.
  rm -rf "$DIR"
  echo "redis cluster stopped"
}

status() {
  need redis-cli
  local down=0
  for port in "${PORTS[@]}"; do
    if is_up "$port"; then echo "$HOST:$port up"; else echo "$HOST:$port down"; down=1; fi
  done
  if cluster_ok; then echo "cluster_state:ok"; else echo "cluster not ok"; down=1; fi
  return $down
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
