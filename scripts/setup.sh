#!/usr/bin/env bash
# Prepares a Debian/Ubuntu development or CI machine for noa's tests and for
# running the services locally: installs what is missing (Debian packages),
# starts PostgreSQL, Redis and RabbitMQ if they are not running, and starts the
# six-node loopback Redis Cluster. Safe to run again: it only does what is
# missing. Needs root (or sudo) only when something must be installed.
#
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log() { printf 'setup: %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() { # port what seconds
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  log "$2 did not start listening on 127.0.0.1:$1 within $3 s"; return 1
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
# The CitusCluster tests run the component's pgbouncer.ini in front of the local PostgreSQL.
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# The RedisCluster tests scrape the exporter the component runs beside every Redis node.
[ -x /usr/bin/prometheus-redis-exporter ] || missing+=(prometheus-redis-exporter)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432; the tests connect as `postgres` without a
# password, as on the project's CI machines (trust auth on loopback).
if ! port_open 5432; then
  log "starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for_port 5432 PostgreSQL 30
fi
if ! psql -w -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  log "allowing passwordless loopback connections for the test user in $hba (a development/CI machine only)"
  $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

# Redis 7 on 127.0.0.1:6379 (kept nothing on disk: it is a cache for tests).
if ! port_open 6379; then
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/noa.log
  wait_for_port 6379 Redis 15
fi

# RabbitMQ on 127.0.0.1:5672 with its default guest/guest (loopback only).
if ! port_open 5672; then
  log "starting RabbitMQ"
  $SUDO rabbitmq-server -detached
  $SUDO rabbitmqctl await_startup >/dev/null 2>&1 || wait_for_port 5672 RabbitMQ 60
  wait_for_port 5672 RabbitMQ 60
fi

# The six-node Redis Cluster the services' tests and local run use.
bash scripts/redis-cluster.sh start
log "ready: PostgreSQL :5432, Redis :6379, RabbitMQ :5672, Redis Cluster :7000-7005"
