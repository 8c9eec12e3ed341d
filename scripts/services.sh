#!/usr/bin/env bash
# Installs (with apt-get, when missing) and starts the servers Hookflow's tests and distributed
# runs need, by hand on loopback (no systemd, no Docker), waits until each answers, and prints
# `export …` lines for them on stdout:
#
#   eval "$(scripts/services.sh)"
#
# Safe to run again: running servers are left alone. Progress goes to stderr.
set -euo pipefail

log() { echo "services: $*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "$1 is missing and installing it needs root (apt-get); run as root or install it first"
    exit 1
  fi
}

apt_updated=""
apt_install() {
  need_root "$*"
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- PostgreSQL -----------------------------------------------------------------------------
PG_USER=hookflow
PG_PASSWORD=hookflow
PG_PORT=5432

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    # A server killed without shutting down leaves its lock file behind, naming its PID. Here
    # nobody reaps exited daemons, so that PID can live on as a zombie (or be reused), and
    # PostgreSQL then refuses to start. A lock whose PID is gone or a zombie is stale.
    for lock in "/var/run/postgresql/.s.PGSQL.$PG_PORT.lock" "/var/lib/postgresql/$version/main/postmaster.pid"; do
      [ -f "$lock" ] || continue
      owner=$(head -n 1 "$lock")
      state=$(awk '/^State:/ {print $2}' "/proc/$owner/status" 2>/dev/null || true)
      if [ -z "$state" ] || [ "$state" = "Z" ]; then
        log "removing the stale lock $lock (PID $owner is gone)"
        rm -f "$lock"
      fi
    done
    log "starting PostgreSQL $version"
    # The cluster listens on localhost only (Debian's default listen_addresses).
    pg_ctlcluster "$version" main start >&2 || true
  fi
  for _ in $(seq 1 120); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.25
  done
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || { log "PostgreSQL did not start"; exit 1; }
  psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\"" ; }
  if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != "1" ]; then
    psql_admin "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" >&2
  fi
  # Distributed tests give every test cluster a database of its own.
  psql_admin "ALTER ROLE $PG_USER CREATEDB" >/dev/null
  for db in hookflow hookflow_test; do
    if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
      psql_admin "CREATE DATABASE $db OWNER $PG_USER" >&2
    fi
  done
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
  echo "export HOOKFLOW_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/hookflow"
  echo "export HOOKFLOW_TEST_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/hookflow_test"
}

# --- Redis ----------------------------------------------------------------------------------
REDIS_PORT=6379

start_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/tmp/hookflow-services
    redis-server --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --pidfile /var/tmp/hookflow-services/redis.pid --logfile /var/tmp/hookflow-services/redis.log >&2
  fi
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 || { log "Redis did not start"; exit 1; }
  log "Redis ready on 127.0.0.1:$REDIS_PORT"
  echo "export HOOKFLOW_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

# --- RabbitMQ -------------------------------------------------------------------------------
AMQP_PORT=5672

amqp_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; }

start_rabbitmq() {
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  if ! amqp_port_open; then
    log "starting RabbitMQ"
    # Loopback only: AMQP, the Erlang port mapper and distribution.
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      rabbitmq-server -detached >&2
  fi
  # `rabbitmqctl await_startup` exits 69 when asked too early; the AMQP port opens last.
  for _ in $(seq 1 240); do
    if rabbitmqctl await_startup --timeout 60 >/dev/null 2>&1 && amqp_port_open; then
      break
    fi
    sleep 0.25
  done
  amqp_port_open || { log "RabbitMQ did not start"; exit 1; }
  log "RabbitMQ ready on 127.0.0.1:$AMQP_PORT"
  echo "export HOOKFLOW_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
}

start_postgres
start_redis
start_rabbitmq
