#!/usr/bin/env bash
# The simulator's policy matrix: every cell at 1, 2, 4 and 8 clients over seeds 1..8.
# usage: scripts/bench/sim-matrix.sh [simulate binary] [output dir]
# (default: target/release/simulate, built if missing; sim-matrix/ under the system's temp
# directory). Compare two builds with `diff <dir A>/summary.txt <dir B>/summary.txt`.
set -euo pipefail
B=${1:-target/release/simulate}
O=${2:-${TMPDIR:-/tmp}/sim-matrix}
[ -x "$B" ] || cargo build --release -q --bin simulate
mkdir -p "$O"
: > "$O/summary.txt"
G="--max-tokens 4096 --output-min 100 --output-max 300 --requests 200"
cells=(
  ""
  "--rounding down"
  "--learn-limits"
  "--learn-limits --rounding down"
  "--max-tokens 4096 --requests 300"
  "--head after --learn-limits"
  "--models --clients 4"
  "--models --clients 8 --learn-limits"
  "--store-ms 2 --learn-limits"
  "--store-ms 2 --learn-limits --max-tokens 4096 --requests 300"
  "--store-ms 2 --rounding down --learn-limits"
  "--transit-ms 0,300 --learn-limits"
  "--learn-limits --metering realtime --max-tokens 20000"
  "--head admission"
  "--head admission --learn-limits --transit-ms 0,300"
  "--head admission-json"
  "--head admission-json --learn-limits"
  "--head admission-json --rounding down"
  "--head admission-json --transit-ms 0,300 --learn-limits"
  "--head admission-json --variant burst"
  "--head admission-json --max-tokens 4096 --requests 300"
  "--head admission-json --store-ms 2 --learn-limits"
  "$G"
  "$G --head after"
  "$G --head admission-json"
  "$G --head admission-json --learn-limits --rounding down"
  "$G --transit-ms 0,300"
)
i=0
for c in "${cells[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  "$B" --seeds 8 $c > "$O/cell$i.txt" 2>&1
  echo "== $c" >> "$O/summary.txt"
  grep -E "^ +[0-9]+ +[0-9.]+%" "$O/cell$i.txt" >> "$O/summary.txt" || true
done
cat "$O/summary.txt"
