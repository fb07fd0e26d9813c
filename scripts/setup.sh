#!/usr/bin/env bash
# Installs what the build and the tests need, from the package registries only, and is quick
# when everything is already there. Run by test.sh, and by demo.sh with `--build` (the build's
# needs only: no browser, no Redis); safe to run on its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# Rust target for the Wasm build.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen CLI: exactly the version Cargo.lock pins for the wasm-bindgen crate.
# (No --locked: its own lock pins a crate version the registry here does not serve.)
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -n "$want" ]; then
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    log "cargo install wasm-bindgen-cli --version $want (about 2-3 minutes)"
    cargo install wasm-bindgen-cli --version "$want"
  fi
fi

# npm packages (wasm-opt from binaryen, the SDKs, typescript), from the committed lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The demo needs no more.
[ "${1:-}" = "--build" ] && exit 0

# Chromium for the browser tests: Debian's (`npx playwright install` cannot download here),
# driven by playwright-core. apt-get update only when the package lists do not know it yet
# or are too old to install it; waits for another apt run to finish instead of failing.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  if [ ${#sudo[@]} -gt 0 ] && ! sudo -n true 2>/dev/null; then
    log "chromium is missing and this is not root: install it with apt-get install chromium chromium-driver (the browser tests fail without it)"
  else
    apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }
    if ! apt-cache show chromium chromium-driver >/dev/null 2>&1; then
      log "apt-get update"
      apt_get update >/dev/null
    fi
    log "apt-get install chromium chromium-driver (about 20 s)"
    if ! apt_get install chromium chromium-driver >/dev/null; then
      log "apt-get update, then install again"
      apt_get update >/dev/null
      apt_get install chromium chromium-driver >/dev/null
    fi
  fi
fi

# redis-server for the shared-store tests (tests/js/store-*.test.mjs start their own on free
# loopback ports and stop them; no Docker), and redis-cli (redis-tools) to make the Redis
# Cluster of store-clients.test.mjs: Debian's.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  if [ ${#sudo[@]} -gt 0 ] && ! sudo -n true 2>/dev/null; then
    log "redis-server or redis-cli is missing and this is not root: install them with apt-get install redis-server redis-tools (the store tests fail without them)"
  else
    apt_redis() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }
    if ! apt-cache show redis-server >/dev/null 2>&1; then
      log "apt-get update"
      apt_redis update >/dev/null
    fi
    log "apt-get install redis-server redis-tools"
    if ! apt_redis install --no-install-recommends redis-server redis-tools >/dev/null; then
      apt_redis update >/dev/null
      apt_redis install --no-install-recommends redis-server redis-tools >/dev/null
    fi
  fi
fi
