#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ in turn, SECONDS each (default 60), and prints how many
# inputs each one ran. Exits non-zero when a target crashed, naming the input that did it.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]   (no TARGET: every target)
# Corpora grow in fuzz/corpus/<target> (not committed), starting from fuzz/seeds/<target>;
# crashing inputs land in fuzz/artifacts/<target>, libFuzzer's output in fuzz/logs/<target>.log;
# fuzz/dicts/<target>.dict, when present, is passed as libFuzzer's dictionary.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]* | 0)
    echo "usage: scripts/fuzz.sh [SECONDS]   (a whole number of seconds per target, default 60)" >&2
    exit 2
    ;;
esac

# cargo fuzz passes -Z flags (sanitizers, coverage); a stable rustc takes them only with this.
export RUSTC_BOOTSTRAP=1
# Instrumented builds are kept apart from the workspace's ordinary ones, and reused between runs.
export CARGO_TARGET_DIR="${HOOKFLOW_FUZZ_TARGET_DIR:-/var/tmp/hookflow-fuzz-target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 1 ]; then
  targets=("${@:2}")
else
  mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: cargo fuzz list found no targets" >&2
  exit 1
fi

echo "fuzz: building ${targets[*]}" >&2
cargo fuzz build

mkdir -p fuzz/logs
summary=()
failed=0
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  log="fuzz/logs/$target.log"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  if [ -d "fuzz/seeds/$target" ]; then
    cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  fi
  # -timeout: an input running 10 s is a hang worth reporting; the final stats give the count.
  options=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
  # Tokens the target's parser looks for (function names, field names) reach it far sooner.
  if [ -f "fuzz/dicts/$target.dict" ]; then
    options+=(-dict="fuzz/dicts/$target.dict")
  fi
  echo "fuzz: $target for ${seconds}s (log: $log)" >&2
  status=0
  cargo fuzz run "$target" "$corpus" -- "${options[@]}" >"$log" 2>&1 || status=$?

  # "Done N runs in S second(s)" on a clean finish; the final stats also after a crash.
  runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  fi
  runs="${runs:-?}"

  if [ "$status" -eq 0 ]; then
    summary+=("$target: $runs executions in ${seconds}s, no crash")
    continue
  fi
  failed=1
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ -z "$artifact" ]; then
    summary+=("$target: FAILED (exit $status) after $runs executions, no input saved; see $log")
    tail -n 20 "$log" >&2
    continue
  fi
  summary+=("$target: CRASHED after $runs executions: $artifact")
  # The panic or sanitizer report, and how to replay it.
  grep -m 1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" -A 2 "$log" >&2 || true
  echo "fuzz: reproduce with: RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run $target $artifact" >&2
  echo "fuzz: minimize with:  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz tmin $target $artifact" >&2
done

echo
printf '%s\n' "${summary[@]}"
exit "$failed"
