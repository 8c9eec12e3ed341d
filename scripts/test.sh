#!/usr/bin/env bash
# Runs everything CI runs: formatting, clippy with -D warnings, and the whole test suite —
# storage tests on SQLite and on PostgreSQL (installed and started by scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs from a folder outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hookflow-target}"

services=$(scripts/services.sh)
value_of() { printf '%s\n' "$services" | sed -n "s/^export $1=//p"; }
# Tests configure Hookflow themselves; they get the servers under test-only names.
HOOKFLOW_TEST_DATABASE_URL=$(value_of HOOKFLOW_TEST_DATABASE_URL)
HOOKFLOW_TEST_AMQP_URL=$(value_of HOOKFLOW_AMQP_URL)
HOOKFLOW_TEST_REDIS_URL=$(value_of HOOKFLOW_REDIS_URL)
export HOOKFLOW_TEST_DATABASE_URL HOOKFLOW_TEST_AMQP_URL HOOKFLOW_TEST_REDIS_URL
for name in HOOKFLOW_TEST_DATABASE_URL HOOKFLOW_TEST_AMQP_URL HOOKFLOW_TEST_REDIS_URL; do
  if [ -z "${!name}" ]; then
    echo "test: scripts/services.sh gave no value for $name" >&2
    exit 1
  fi
done

# Storage tests make one schema each and distributed tests one database each; drop those of
# earlier runs.
# A failed clean-up only leaves garbage behind, so it does not stop the run.
psql "$HOOKFLOW_TEST_DATABASE_URL" -qtAc \
  "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 't\_%'" \
  | psql "$HOOKFLOW_TEST_DATABASE_URL" -q >/dev/null || true
psql "$HOOKFLOW_TEST_DATABASE_URL" -qtAc \
  "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE);', datname) FROM pg_database WHERE datname LIKE 'e\_%'" \
  | psql "$HOOKFLOW_TEST_DATABASE_URL" -q >/dev/null || true

log="${TMPDIR:-/tmp}/hookflow-test.log"
: > "$log"
status=0
run() {
  echo "== $*"
  "$@" 2>&1 | tee -a "$log" || status=$?
}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build (binaries for the distributed suites)"
cargo build --workspace --bins

# 1. Everything, embedded mode; storage tests on SQLite and PostgreSQL.
run cargo test --workspace --all-targets
# 1b. Attacks on a real embedded ingress process, one at a time (they measure its memory), and
#     the embedded binary stopped with SIGTERM.
run cargo test -p hookflow-tests --test attacks -- --ignored --test-threads=1 --nocapture
run cargo test -p hookflow-tests --test embedded -- --ignored --nocapture
# 2. The end-to-end suite again, against two ingress and two worker processes per test. The
#    metrics test keeps what both binaries expose, for the deploy checks below.
metrics_dir=$(mktemp -d)
trap 'rm -rf "$metrics_dir"' EXIT
HOOKFLOW_METRICS_DUMP_DIR=$metrics_dir HOOKFLOW_TEST_MODE=distributed run cargo test -p hookflow-tests --test api
# 2b. deploy/ and docker-compose.yml, offline: schemas, rules, and every metric the dashboard
#     and the alerts use, against the live /metrics texts of step 2.
metrics_args=()
for file in "$metrics_dir"/*.prom; do
  [ -e "$file" ] && metrics_args+=(--metrics "$file")
done
if [ ${#metrics_args[@]} -lt 2 ]; then
  echo "the metrics test left no /metrics texts in $metrics_dir" | tee -a "$log"
  status=1
else
  run scripts/check-deploy.sh "${metrics_args[@]}"
fi
# 3. Faults (they stop and start the shared servers, so one at a time).
HOOKFLOW_TEST_MODE=distributed run cargo test -p hookflow-tests --test resilience -- --ignored --test-threads=1 --nocapture

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
