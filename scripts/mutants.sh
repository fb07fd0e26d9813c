#!/usr/bin/env bash
# Mutation testing of the policy (src/core) with cargo-mutants: each mutant is a one-line
# change (an operator flipped, a return value replaced, a call dropped) that the tests must
# catch. A mutant that survives is a behaviour no test pins down: kill it with a test, or list
# it in docs/mutants.md with the reason it is equivalent. Settings: .cargo/mutants.toml.
#
#   scripts/mutants.sh                      # all of src/core (hours on 2 cores)
#   scripts/mutants.sh --changed [BASE]     # only the lines changed since BASE (default
#                                           # origin/main, else main): minutes, for CI/review
#   scripts/mutants.sh src/core/call.rs ... # these files
#   scripts/mutants.sh --list [...]         # list the mutants, run nothing
#
# Environment: MUTANTS_JOBS (default 1), MUTANTS_TIMEOUT (seconds per mutant's tests; default
# from the baseline, see mutants.toml), MUTANTS_OUT (default target/mutants; the report is
# MUTANTS_OUT/mutants.out: caught.txt, missed.txt, timeout.txt, unviable.txt, outcomes.json),
# MUTANTS_ARGS (more cargo-mutants flags, e.g. "--shuffle --iterate" to resume a partial run
# in a random order, or "--re set_capacity" for one function).
# Needs `cargo install cargo-mutants` (v27). Exits non-zero when a mutant is missed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "cargo-mutants is missing: cargo install cargo-mutants --locked" >&2
  exit 2
fi

out=${MUTANTS_OUT:-target/mutants}
args=(--jobs "${MUTANTS_JOBS:-1}" --output "$out")
[ -n "${MUTANTS_TIMEOUT:-}" ] && args+=(--timeout "$MUTANTS_TIMEOUT")
# shellcheck disable=SC2206 # word splitting wanted
[ -n "${MUTANTS_ARGS:-}" ] && args+=(${MUTANTS_ARGS})
list=()
if [ "${1:-}" = "--list" ]; then
  list=(--list)
  shift
fi

files=()
if [ "${1:-}" = "--changed" ]; then
  base=${2:-}
  if [ -z "$base" ]; then
    base=$(git rev-parse --verify -q origin/main || git rev-parse --verify -q main || true)
  fi
  [ -n "$base" ] || { echo "mutants.sh --changed: no base (give one: --changed REF)" >&2; exit 2; }
  diff=$(mktemp)
  trap 'rm -f "$diff"' EXIT
  # Against the fork point, so changes made on BASE since do not count as this change's.
  git diff "$(git merge-base "$base" HEAD)" -- 'src/core/*.rs' >"$diff"
  if [ ! -s "$diff" ]; then
    echo "mutants.sh: src/core unchanged since $base: nothing to mutate"
    exit 0
  fi
  args+=(--in-diff "$diff" -f 'src/core/*.rs')
elif [ $# -gt 0 ]; then
  for f in "$@"; do files+=(-f "$f"); done
  args+=("${files[@]}")
else
  args+=(-f 'src/core/*.rs')
fi

set -x
nice -n 10 cargo mutants "${list[@]}" "${args[@]}"
