#!/usr/bin/env bash
# Build the npm package into pkg/ from the Rust crate and pkg-template/:
#
#   cargo build (wasm32, release) -> wasm-bindgen (web and nodejs glue) -> wasm-opt -Oz
#   -> pkg/ (entries assembled from pkg-template/) -> node_modules/llm-pacer -> ../pkg
#
# Idempotent, and quick when nothing changed (cargo's own check, then a stamp over every
# input of the later steps). Prints the gzipped sizes of what each entry loads.
#
# Layout of pkg/:
#   llm_pacer_bg.wasm            the one Wasm module, shared by every entry
#   web/llm_pacer.js             wasm-bindgen glue, --target web (ESM, initSync / init)
#   web/index.js                 "default": ready on import (top-level await on init)
#   web/slim.js                  "./slim": the caller runs `await init()` first
#   node/llm_pacer.cjs           wasm-bindgen glue, --target nodejs (CommonJS, sync load)
#   node/index.cjs               "node" + require
#   node/index.mjs               "node" + import: re-exports index.cjs (one instance)
#   bin/                         the `llm-pacer` command (package.json "bin")
#   index.d.ts, index.d.cts, slim.d.ts, package.json, README.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'build-pkg: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'build-pkg: %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || die "no wasm-bindgen in Cargo.lock"
command -v wasm-bindgen >/dev/null || die "wasm-bindgen CLI not found; install version $want (scripts/setup.sh)"
have=$(wasm-bindgen --version | awk '{print $2}')
[ "$have" = "$want" ] || die "wasm-bindgen CLI is $have but Cargo.lock pins $want; the glue must match (scripts/setup.sh installs it)"
wasm_opt=node_modules/.bin/wasm-opt # npm binaryen; Debian's older one writes broken modules
[ -x "$wasm_opt" ] || die "$wasm_opt not found; run npm ci"

# --- compile -----------------------------------------------------------------------------
cargo build --quiet --release --target wasm32-unknown-unknown --lib
raw=target/wasm32-unknown-unknown/release/llm_pacer.wasm

# --- later steps only when an input changed ----------------------------------------------
work=target/pkg-build
stamp=$( {
  sha256sum "$raw" Cargo.toml scripts/build-pkg.sh "$wasm_opt"
  find pkg-template -type f -print0 | sort -z | xargs -0 sha256sum
  echo "$have"
} | sha256sum | cut -d' ' -f1)

if [ -f "$work/stamp" ] && [ "$(cat "$work/stamp")" = "$stamp" ] && [ -f pkg/package.json ]; then
  log "pkg/ is up to date"
else
  rm -rf "$work"
  mkdir -p "$work"
  flags=(--remove-name-section --remove-producers-section)
  wasm-bindgen --target web --out-dir "$work/web" "${flags[@]}" "$raw"
  wasm-bindgen --target nodejs --out-dir "$work/node" "${flags[@]}" "$raw"
  cmp -s "$work/web/llm_pacer_bg.wasm" "$work/node/llm_pacer_bg.wasm" ||
    die "the web and nodejs targets produced different .wasm files; the package ships one"
  "$wasm_opt" -Oz --strip-target-features "$work/web/llm_pacer_bg.wasm" -o "$work/llm_pacer_bg.wasm"

  out="$work/pkg"
  mkdir -p "$out/web" "$out/node"
  cp "$work/llm_pacer_bg.wasm" "$out/"
  cp "$work/web/llm_pacer.js" "$out/web/llm_pacer.js"
  # The nodejs glue reads its .wasm next to itself; ours is one directory up.
  sed 's|`${__dirname}/llm_pacer_bg.wasm`|`${__dirname}/../llm_pacer_bg.wasm`|' \
    "$work/node/llm_pacer.js" >"$out/node/llm_pacer.cjs"
  grep -q '/../llm_pacer_bg.wasm' "$out/node/llm_pacer.cjs" ||
    die "could not point the nodejs glue at ../llm_pacer_bg.wasm (wasm-bindgen output changed?)"

  # Each entry: the template with `// @include api.js` replaced by the shared API.
  assemble() { # template output
    awk -v api=pkg-template/api.js '
      /^\/\/ @include api\.js$/ { while ((getline line < api) > 0) print line; close(api); next }
      { print }' "pkg-template/entry/$1" >"$out/$2"
    ! grep -q '@include' "$out/$2" || die "unexpanded @include in $2"
  }
  assemble default.js web/index.js
  assemble slim.js web/slim.js
  assemble node.cjs node/index.cjs
  cp pkg-template/entry/node.mjs "$out/node/index.mjs"

  cp pkg-template/index.d.ts "$out/index.d.ts"
  cp pkg-template/index.d.ts "$out/index.d.cts"
  cp pkg-template/slim.d.ts pkg-template/README.md "$out/"
  cp -R pkg-template/bin "$out/bin" # the `llm-pacer` command (demo, probe, simulate)
  chmod +x "$out/bin/llm-pacer.mjs"
  version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
  [ -n "$version" ] || die "no version in Cargo.toml"
  node -e '
    const fs = require("fs");
    const [src, dst, version] = process.argv.slice(1);
    const p = JSON.parse(fs.readFileSync(src, "utf8"));
    p.version = version;
    fs.writeFileSync(dst, JSON.stringify(p, null, 2) + "\n");
  ' pkg-template/package.json "$out/package.json" "$version"

  # Swap in the new pkg/ whole, so a failed build never leaves a half-written one.
  rm -rf pkg.old
  [ ! -e pkg ] || mv pkg pkg.old
  mv "$out" pkg
  rm -rf pkg.old
  echo "$stamp" >"$work/stamp"
  log "built pkg/ (llm-pacer $version)"
fi

# --- make `import "llm-pacer"` resolve to pkg/ through its real exports map ---------------
mkdir -p node_modules
if [ "$(readlink node_modules/llm-pacer 2>/dev/null || true)" != "../pkg" ]; then
  rm -rf node_modules/llm-pacer
  ln -s ../pkg node_modules/llm-pacer
fi

# --- sizes -------------------------------------------------------------------------------
gz() { gzip -9c "$@" | wc -c; }
wasm_gz=$(gz pkg/llm_pacer_bg.wasm)
printf '\n%-34s %8s %9s\n' "what one entry loads" "bytes" "gzipped"
row() { # label files...
  local label=$1
  shift
  local raw_total=0 gz_total=$wasm_gz
  for f in "$@"; do
    raw_total=$((raw_total + $(wc -c <"$f")))
    gz_total=$((gz_total + $(gz "$f")))
  done
  raw_total=$((raw_total + $(wc -c <pkg/llm_pacer_bg.wasm)))
  printf '%-34s %8d %9d\n' "$label" "$raw_total" "$gz_total"
}
printf '%-34s %8d %9d\n' "llm_pacer_bg.wasm alone" "$(wc -c <pkg/llm_pacer_bg.wasm)" "$wasm_gz"
row "default (web/index.js + glue)" pkg/web/index.js pkg/web/llm_pacer.js
row "slim (web/slim.js + glue)" pkg/web/slim.js pkg/web/llm_pacer.js
row "node require (index.cjs + glue)" pkg/node/index.cjs pkg/node/llm_pacer.cjs
row "node import (+ index.mjs)" pkg/node/index.mjs pkg/node/index.cjs pkg/node/llm_pacer.cjs
