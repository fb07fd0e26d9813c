#!/usr/bin/env bash
# Fuzz the header parsers, the number and date parsers, the classifier, the event-stream
# parser, the token estimate and the engine with cargo-fuzz (libFuzzer + AddressSanitizer),
# one target after the other, each for a bounded time. Prints, per target, the executions,
# their rate, the corpus size and whether anything crashed; exits non-zero on a crash (the
# input is kept in tests/fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      default: 60 s, every target
#
#   FUZZ_MERGE=1      afterwards, minimise the committed corpus together with what the run
#                     found (`cargo fuzz cmin`), keeping the hand-made seeds (seed-*)
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
  targets=(headers numbers classify sse estimate engine)
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
  size=$(find "$work/$t" "$fuzz_dir/corpus/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    status=ok
  else
    status="CRASH (exit $rc; see $log and $fuzz_dir/artifacts/$t/)"
    crashed=1
  fi
  rows+=("$(printf '%-9s %12s %9s %7s  %s' "$t" "${execs:-?}" "${rate:-?}" "$size" "$status")")
done

if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$crashed" = 0 ]; then
  for t in "${targets[@]}"; do
    dir=$fuzz_dir/corpus/$t
    seeds=$(mktemp -d)
    cp "$dir"/seed-* "$seeds"/ 2> /dev/null || true
    cp "$work/$t"/* "$dir"/ 2> /dev/null || true
    cargo fuzz cmin --fuzz-dir "$fuzz_dir" -s "$sanitizer" "$t" "$dir" -- -max_len="$(max_len "$t")" \
      > "$fuzz_dir/target/cmin-$t.log" 2>&1
    # The hand-made seeds stay under their names, and only there.
    for s in "$seeds"/*; do
      [ -e "$s" ] || continue
      cp "$s" "$dir"/
      rm -f "$dir/$(sha1sum < "$s" | cut -d' ' -f1)"
    done
    rm -rf "$seeds"
    echo "corpus/$t: $(find "$dir" -type f | wc -l) files after cmin"
  done
fi

printf '\n%-9s %12s %9s %7s  %s\n' target executions 'exec/s' corpus result
printf '%s\n' "${rows[@]}"
exit "$crashed"
