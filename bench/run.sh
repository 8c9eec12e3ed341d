#!/usr/bin/env bash
# Hookflow's benchmark: builds release binaries, starts what it needs, and measures with wrk
# each scenario and two baselines in one run, on the same workflow and load:
#
#   1. embedded, sync          2. embedded, async
#   3. distributed, async      4. distributed, sync (one ingress, two workers)
#   5. embedded, sync, with a math.js calculation (bench/workflows/bench-mathjs.json)
#   6. embedded, sync, the same calculation on Hookflow's `expression` engine
#   a. Node-RED (http in → switch → change → http response), pinned in bench/nodered
#   b. the limit: bench/src/bin/actix_limit.rs (parse, check, answer; no queue)
#   and RabbitMQ's own confirmed-publish rate (bench/src/bin/broker_confirms.rs)
#
# Each run is bounded: BENCH_DURATION seconds (default 10) after a BENCH_WARMUP-second warm-up
# (default 3), at each of BENCH_CONNECTIONS (default "16 64"). Prints a markdown table and
# writes it to bench/results/latest.md. Loopback only.
#
# BENCH_ONLY=embedded skips Node-RED and the distributed scenarios. BENCH_BASELINE_REV=<commit>
# also builds that commit's ingress and measures scenario 1 on it in the same run
# ("1. embedded, sync @<commit>"), to compare a change with what it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hookflow-target}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-16 64}"
THREADS="${BENCH_THREADS:-2}"
ONLY="${BENCH_ONLY:-all}"
BASELINE_REV="${BENCH_BASELINE_REV:-}"
work=/var/tmp/hookflow-bench
rm -rf "$work" && mkdir -p "$work"

log() { echo "bench: $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { log "wrk is missing and installing it needs root"; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi
eval "$(scripts/services.sh)"
log "building release binaries"
cargo build --release --bins >&2
bin="$CARGO_TARGET_DIR/release"
if [ -n "$BASELINE_REV" ]; then
  log "building the ingress of $BASELINE_REV"
  rm -rf "$work/baseline-src" && git worktree prune
  git worktree add -q --detach "$work/baseline-src" "$BASELINE_REV" >&2
  (cd "$work/baseline-src" && cargo build --release -p hookflow-ingress --bin ingress >&2)
  cp "$bin/ingress" "$work/ingress-baseline"
  git worktree remove --force "$work/baseline-src"
  # The current tree's binaries again (the shared target dir now holds the baseline's).
  cargo build --release --bins >&2
fi
if [ "$ONLY" = all ] && [ ! -d bench/nodered/node_modules/node-red ]; then
  log "installing Node-RED (pinned in bench/nodered/package.json)"
  (cd bench/nodered && npm install --no-audit --no-fund --loglevel=error >&2)
fi

# --- process handling -----------------------------------------------------------------------
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# ensure_free PORT: a server left over from an earlier run would be measured instead
ensure_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    log "port $1 is taken by another process; stop it first"; exit 1
  fi
}

# start NAME COMMAND...: starts a server in the background, logs to $work/NAME.log
start() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/$name.pid"
}

stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  done
  pids=()
}

# wait_for URL: until it answers at all (any status)
wait_for() {
  for _ in $(seq 1 200); do
    curl -s -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  log "$1 did not answer"; exit 1
}

# peak_rss NAME...: "name N MB" for each running process (VmHWM: its peak resident set)
peak_rss() {
  local out=() name kb
  for name in "$@"; do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$work/$name.pid")/status" 2>/dev/null || echo 0)
    out+=("$name $((kb / 1024)) MB")
  done
  local IFS=","; echo "${out[*]}"
}

# --- measuring --------------------------------------------------------------------------------
results="$work/results.tsv"   # scenario, conns, req/s, p50 µs, p99 µs, non2xx, 2xx, rss
: >"$results"
accepted=0                   # 2xx answers of the current scenario, warm-ups included

# measure SCENARIO URL PROCESS...: a warm-up and a measured run at each connection count
measure() {
  local scenario=$1 url=$2; shift 2
  accepted=0
  local conns line requests duration non2xx errors p50 p99 rate ok
  for conns in $CONNECTIONS; do
    for phase in warmup run; do
      local seconds=$DURATION; [ "$phase" = warmup ] && seconds=$WARMUP
      line=$(wrk -t"$THREADS" -c"$conns" -d"${seconds}s" -s bench/post.lua "$url" | grep '^RESULT')
      eval "$(echo "$line" | sed 's/^RESULT //; s/\([a-z0-9_]*\)=/local \1=/g')"
      ok=$((requests - non2xx))
      accepted=$((accepted + ok))
    done
    rate=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$conns" "$rate" "$p50_us" "$p99_us" "$non2xx" "$ok" \
      "$(peak_rss "$@")" >>"$results"
    log "$scenario c=$conns: $rate req/s, p50 ${p50_us} µs, p99 ${p99_us} µs, non-2xx $non2xx, socket errors $socket_errors"
  done
}

# check_lost SCENARIO COUNT_COMMAND: waits while the workers drain their backlog (until the
# recorded executions reach the 2xx count, or stop growing for 15 s); prints lost
lost_line=()
check_lost() {
  local scenario=$1; shift
  local recorded=0 previous=-1 still=0
  for _ in $(seq 1 1200); do
    recorded=$("$@")
    [ "$recorded" -ge "$accepted" ] && break
    if [ "$recorded" -eq "$previous" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 30 ] && break
    previous=$recorded
    sleep 0.5
  done
  local lost=$((accepted > recorded ? accepted - recorded : 0))
  log "$scenario: 2xx $accepted, recorded $recorded, lost: $lost"
  lost_line+=("$scenario: 2xx answers $accepted, recorded executions $recorded, lost: $lost")
}

sqlite_count() {
  python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from executions where workflow_key='bench-async'\").fetchone()[0])" "$work/embedded.db"
}
pg_count() {
  psql "$bench_db" -qtAc "select count(*) from executions where workflow_key = 'bench-async'"
}

# --- baselines ------------------------------------------------------------------------------
for port in 18080 18081 13100 13101 13200 13201 13202 13203; do ensure_free "$port"; done

log "baseline: actix-web limit"
start actix "$bin/actix-limit" 127.0.0.1:18080
wait_for http://127.0.0.1:18080/
measure "limit: minimal actix-web" http://127.0.0.1:18080/hook actix
stop_all

if [ "$ONLY" = all ]; then
  log "baseline: Node-RED"
  (cd bench/nodered && rm -rf .node-red && mkdir -p .node-red && cp flows.json .node-red/)
  start node-red node bench/nodered/node_modules/node-red/red.js --settings bench/nodered/settings.js \
    --userDir bench/nodered/.node-red
  wait_for http://127.0.0.1:18081/hook
  measure "Node-RED 4.1.8" http://127.0.0.1:18081/hook node-red
  stop_all
fi

# --- Hookflow embedded --------------------------------------------------------------------------
embedded_env=(HOOKFLOW_LISTEN=127.0.0.1:13100 HOOKFLOW_METRICS_LISTEN=127.0.0.1:13101
  HOOKFLOW_ADMIN_TOKEN=bench-admin-token HOOKFLOW_LOG=warn
  HOOKFLOW_WORKFLOWS_DIR="$root/bench/workflows" HOOKFLOW_DATABASE_URL="sqlite://$work/embedded.db?mode=rwc")
log "hookflow embedded"
start ingress env -u HOOKFLOW_AMQP_URL -u HOOKFLOW_REDIS_URL "${embedded_env[@]}" "$bin/ingress"
wait_for http://127.0.0.1:13100/healthz
measure "1. embedded, sync" http://127.0.0.1:13100/api/webhook:trigger/bench-sync ingress
stop_all
start ingress env -u HOOKFLOW_AMQP_URL -u HOOKFLOW_REDIS_URL "${embedded_env[@]}" "$bin/ingress"
wait_for http://127.0.0.1:13100/healthz
measure "2. embedded, async" http://127.0.0.1:13100/api/webhook:trigger/bench-async ingress
check_lost "2. embedded, async" sqlite_count
stop_all
for engine in mathjs expression; do
  start ingress env -u HOOKFLOW_AMQP_URL -u HOOKFLOW_REDIS_URL "${embedded_env[@]}" "$bin/ingress"
  wait_for http://127.0.0.1:13100/healthz
  case $engine in mathjs) name="5. embedded, sync, math.js";; *) name="6. embedded, sync, expression engine";; esac
  measure "$name" "http://127.0.0.1:13100/api/webhook:trigger/bench-$engine" ingress
  stop_all
done
if [ -n "$BASELINE_REV" ]; then
  rm -f "$work/embedded.db"*
  # An older ingress reads only the workflows it understands: give it the reference one alone.
  mkdir -p "$work/baseline-workflows" && cp bench/workflows/bench-sync.json "$work/baseline-workflows/"
  start ingress env -u HOOKFLOW_AMQP_URL -u HOOKFLOW_REDIS_URL "${embedded_env[@]}" \
    HOOKFLOW_WORKFLOWS_DIR="$work/baseline-workflows" HOOKFLOW_DATABASE_URL="sqlite://$work/baseline.db?mode=rwc" \
    "$work/ingress-baseline"
  wait_for http://127.0.0.1:13100/healthz
  measure "1. embedded, sync @$BASELINE_REV" http://127.0.0.1:13100/api/webhook:trigger/bench-sync ingress
  stop_all
fi
if [ "$ONLY" != all ]; then
  lost_line+=("distributed scenarios and Node-RED skipped (BENCH_ONLY=$ONLY)")
fi

# --- Hookflow distributed -------------------------------------------------------------------
if [ "$ONLY" = all ]; then
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS hookflow_bench WITH (FORCE)' -c 'CREATE DATABASE hookflow_bench OWNER hookflow'" >&2
bench_db="${HOOKFLOW_DATABASE_URL%/*}/hookflow_bench"
# A fresh internal key per run: every process of the run shares it, nothing else needs it.
internal_key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
distributed_env=(HOOKFLOW_ADMIN_TOKEN=bench-admin-token HOOKFLOW_LOG=warn HOOKFLOW_NAMESPACE=hookflowbench
  HOOKFLOW_INTERNAL_KEY="$internal_key"
  HOOKFLOW_DATABASE_URL="$bench_db" HOOKFLOW_WORKFLOWS_DIR="$root/bench/workflows")
start_distributed() {
  start ingress env "${distributed_env[@]}" HOOKFLOW_LISTEN=127.0.0.1:13200 HOOKFLOW_METRICS_LISTEN=127.0.0.1:13203 \
    "$bin/ingress"
  wait_for http://127.0.0.1:13200/healthz
  start worker-1 env "${distributed_env[@]}" HOOKFLOW_METRICS_LISTEN=127.0.0.1:13201 "$bin/worker"
  start worker-2 env "${distributed_env[@]}" HOOKFLOW_METRICS_LISTEN=127.0.0.1:13202 "$bin/worker"
  wait_for http://127.0.0.1:13201/healthz
  wait_for http://127.0.0.1:13202/healthz
}
log "hookflow distributed"
start_distributed
measure "3. distributed, async" http://127.0.0.1:13200/api/webhook:trigger/bench-async ingress worker-1 worker-2
check_lost "3. distributed, async" pg_count
stop_all
start_distributed
measure "4. distributed, sync" http://127.0.0.1:13200/api/webhook:trigger/bench-sync ingress worker-1 worker-2
stop_all

fi

# --- the broker's own ceiling ----------------------------------------------------------------------
# The message size of a queued reference execution (its envelope as the ingress sends it).
envelope_bytes=700
broker_lines=()
for conns in $CONNECTIONS; do
  [ "$ONLY" = all ] || break
  line=$("$bin/broker-confirms" "$HOOKFLOW_AMQP_URL" "$envelope_bytes" "$conns" "$DURATION")
  broker_lines+=("$conns	$(echo "$line" | sed -n 's/.*: \([0-9]*\) msg\/s/\1/p')")
  log "broker, $conns in flight: $line"
done

# --- report -----------------------------------------------------------------------------------
python3 - "$results" "$DURATION" "$WARMUP" "${lost_line[@]}" >"$work/latest.md" <<PY
import sys, platform, os, subprocess, datetime
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
broker = {c: float(r) for c, r in (l.split("\t") for l in """$(printf '%s\n' "${broker_lines[@]}")""".splitlines() if l.strip())}
duration, warmup, lost = sys.argv[2], sys.argv[3], sys.argv[4:]
rate = {(r[0], r[1]): float(r[2]) for r in rows}
def ratio(value, base):
    return f"{value / base:.2f}" if base else "–"
print(f"# Hookflow benchmark — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
print()
cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"{cpu} cores, wrk -t$THREADS, {duration} s per run after a {warmup} s warm-up, loopback; "
      "POST {\"orderId\":\"A1\",\"status\":\"paid\",\"amount\":42}; every server on the same machine as wrk.")
print()
print("| scenario | conns | req/s | p50 | p99 | non-2xx | peak RSS | × Node-RED | × actix limit |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
def ms(us): return f"{int(us) / 1000:.2f} ms"
for r in rows:
    scenario, conns = r[0], r[1]
    value = float(r[2])
    nodered = rate.get(("Node-RED 4.1.8", conns), 0)
    limit = rate.get(("limit: minimal actix-web", conns), 0)
    print(f"| {scenario} | {conns} | {value:,.0f} | {ms(r[3])} | {ms(r[4])} | {r[5]} | {r[7]} | {ratio(value, nodered)} | {ratio(value, limit)} |")
print()
print("RabbitMQ's own rate (persistent $envelope_bytes-byte messages into a quorum queue, confirms awaited):")
print()
for conns, value in broker.items():
    dist = rate.get(("3. distributed, async", conns), 0)
    print(f"- {conns} in flight: {value:,.0f} msg/s; distributed async at {conns} connections is {ratio(dist, value)} × that")
print()
for line in lost:
    print(f"- {line}")
PY
mkdir -p bench/results
# A partial run keeps the full run's figures: it is written beside them.
report=bench/results/latest.md
[ "$ONLY" = all ] || report="bench/results/latest-$ONLY.md"
cp "$work/latest.md" "$report"
cat "$report"
