#!/usr/bin/env bash
# Runs Hookflow embedded (one process, SQLite, no other server) with the example workflows
# loaded, on http://127.0.0.1:13000. Any HOOKFLOW_* variable set by the caller wins.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hookflow-target}"
cargo build --release -p hookflow-ingress
export HOOKFLOW_WORKFLOWS_DIR="${HOOKFLOW_WORKFLOWS_DIR:-$PWD/examples/workflows}"
exec "$CARGO_TARGET_DIR/release/ingress"
