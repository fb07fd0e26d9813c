#!/usr/bin/env bash
# Benchmark (b), decision cost: natively (criterion, benches/decisions.rs: Limiter::acquire,
# Scheduler::poll with N queued, headers::parse, one Engine call cycle), then across the
# JS -> Wasm boundary in Node next to bottleneck and p-queue (scripts/bench/decisions.mjs).
# Shorter criterion runs than its defaults, to stay under two minutes once compiled.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
node scripts/build-pkg.mjs >/dev/null 2>&1 || node scripts/build-pkg.mjs
echo "== native (cargo bench --bench decisions; opt-level as in [profile.release])"
cargo bench --quiet --bench decisions -- --warm-up-time 0.5 --measurement-time 1.5 --noplot 2>/dev/null |
  grep -E '^[a-z]|time:' | sed -E 's/^ +time: +/    time: /'
echo
echo "== across the JS -> Wasm boundary (node scripts/bench/decisions.mjs)"
node scripts/bench/decisions.mjs
