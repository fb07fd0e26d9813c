#!/usr/bin/env bash
# The whole test suite: format and lint checks, the Rust tests, the Wasm package build, and the
# JavaScript tests that run the built package. Installs what it needs (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy (native and wasm32)"
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --features durable-object -- -D warnings

step "cargo doc: every intra-doc link resolves (native and wasm32, private items too)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --target wasm32-unknown-unknown

step "biome ci: lint and format (the JavaScript: package, tests, page, scripts)"
npx --no-install biome ci

step "cargo test (core, simulator, property tests, doc tests)"
cargo test

if [ -f scripts/build-pkg.mjs ]; then
  step "build the npm package into pkg/"
  node scripts/build-pkg.mjs

  shopt -s nullglob
  js_tests=(tests/js/*.test.mjs)
  if [ ${#js_tests[@]} -gt 0 ]; then
    step "JavaScript tests (node --test) against the built package"
    node --test --test-reporter=spec "${js_tests[@]}"
  fi
fi
