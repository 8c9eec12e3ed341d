#!/usr/bin/env bash
# Runs everything CI runs: formatting, clippy with -D warnings, and the whole test suite —
# storage tests on SQLite and on PostgreSQL (installed and started by scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs from a folder outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hookflow-target}"

services=$(scripts/services.sh)
# Only the test database is taken: tests configure Hookflow themselves.
HOOKFLOW_TEST_DATABASE_URL=$(printf '%s\n' "$services" | sed -n 's/^export HOOKFLOW_TEST_DATABASE_URL=//p')
export HOOKFLOW_TEST_DATABASE_URL
if [ -z "$HOOKFLOW_TEST_DATABASE_URL" ]; then
  echo "test: scripts/services.sh gave no PostgreSQL test database" >&2
  exit 1
fi

# Storage tests make one schema each; drop those of earlier runs.
psql "$HOOKFLOW_TEST_DATABASE_URL" -qtAc \
  "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 't\_%'" \
  | psql "$HOOKFLOW_TEST_DATABASE_URL" -q >/dev/null

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (PostgreSQL at ${HOOKFLOW_TEST_DATABASE_URL%%@*}@…)"
# Doc tests are left out (there are none) so the run closes on a real count; the summary line
# adds up every test binary's results.
status=0
cargo test --workspace --all-targets 2>&1 | tee "${TMPDIR:-/tmp}/hookflow-test.log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "${TMPDIR:-/tmp}/hookflow-test.log"
exit "$status"
