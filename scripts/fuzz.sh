#!/usr/bin/env bash
# Fuzz the header parsers, the number and date parsers, the classifier, the event-stream
# parser, the token estimate and the engine with cargo-fuzz (libFuzzer + AddressSanitizer),
# one target after the other, each for a bounded time. Prints, per target, the executions,
# their rate, the corpus size and whether anything crashed; exits non-zero on a crash (the
# input is kept in tests/fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      default: 60 s, every target
#
#   FUZZ_MERGE=1      afterwards, rebuild the committed corpus from itself and what the run
#                     found: the hand-made seeds (seed-*) and crash regressions (crash-*),
#                     then at most FUZZ_CORPUS_MAX (150) inputs that cover the most edges
#   FUZZ_SANITIZER=none   build without AddressSanitizer (faster; where ASan is missing)
#
# The committed corpus (tests/fuzz/corpus/<target>/) only seeds a run: new inputs go to
# tests/fuzz/target/corpus/<target>/ (not committed). Not part of scripts/test.sh; the
# committed corpus is replayed under plain `cargo test` by tests/fuzz_corpus.rs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(headers numbers classify sse estimate engine hints)
fi
case $secs in
  '' | *[!0-9]*) echo "seconds-per-target must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

if ! command -v cargo-fuzz > /dev/null && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
  echo "cargo-fuzz is missing: installing it (cargo install cargo-fuzz)"
  cargo install cargo-fuzz
fi

# cargo-fuzz passes flags only nightly rustc takes (-Zsanitizer, sanitizer coverage);
# RUSTC_BOOTSTRAP lets the stable compiler, which ships the sanitizer runtimes, take them.
export RUSTC_BOOTSTRAP=1
fuzz_dir=tests/fuzz
sanitizer=${FUZZ_SANITIZER:-address}
work=$fuzz_dir/target/corpus

# Inputs stay small: the corpus is committed, and the replay runs on every `cargo test`.
max_len() {
  case $1 in
    engine | estimate) echo 4096 ;;
    sse) echo 2048 ;;
    *) echo 1024 ;;
  esac
}

cargo fuzz build --fuzz-dir "$fuzz_dir" -s "$sanitizer"

crashed=0
rows=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "$fuzz_dir/corpus/$t"
  log=$fuzz_dir/target/fuzz-$t.log
  args=(-max_total_time="$secs" -print_final_stats=1 -max_len="$(max_len "$t")")
  [ -f "$fuzz_dir/dict/$t.dict" ] && args+=(-dict="$fuzz_dir/dict/$t.dict")
  printf '\n=== %s: %s s\n' "$t" "$secs"
  set +e
  cargo fuzz run --fuzz-dir "$fuzz_dir" -s "$sanitizer" "$t" "$work/$t" "$fuzz_dir/corpus/$t" \
    -- "${args[@]}" > "$log" 2>&1
  rc=$?
  set -e
  grep -E '^#[0-9]+\s+(INITED|DONE)|^Done|^stat::|panicked|ERROR' "$log" | tail -n 12 || true
  execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
  if [ -z "$execs" ]; then
    # Stopped by a crash: the last status line has the count.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  fi
  size=$(grep -oE 'corp: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  if [ "$rc" -eq 0 ]; then
    status=ok
  else
    status="CRASH (exit $rc; see $log and $fuzz_dir/artifacts/$t/)"
    crashed=1
  fi
  rows+=("$(printf '%-9s %12s %9s %7s  %s' "$t" "${execs:-?}" "${rate:-?}" "${size:-?}" "$status")")
done

if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$crashed" = 0 ]; then
  # The coverage of every input (committed and new), then a greedy pick of at most
  # FUZZ_CORPUS_MAX (150) files per target covering the most edges (tests/fuzz/select.mjs).
  for t in "${targets[@]}"; do
    ctl=$fuzz_dir/target/merge-$t.ctl
    out=$(mktemp -d)
    rm -f "$ctl"
    cargo fuzz run --fuzz-dir "$fuzz_dir" -s "$sanitizer" "$t" "$out" "$fuzz_dir/corpus/$t" "$work/$t" \
      -- -merge=1 -max_len="$(max_len "$t")" -merge_control_file="$ctl" \
      > "$fuzz_dir/target/merge-$t.log" 2>&1
    rm -rf "$out"
    node "$fuzz_dir/select.mjs" "$ctl" "$fuzz_dir/corpus/$t" "${FUZZ_CORPUS_MAX:-150}"
  done
fi

printf '\n%-9s %12s %9s %7s  %s\n' target executions 'exec/s' corpus result
printf '%s\n' "${rows[@]}"
exit "$crashed"
