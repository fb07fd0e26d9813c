#!/usr/bin/env bash
# Build the demo page's Wasm module and serve www/ on 127.0.0.1:
#
#   scripts/www.sh            build, then serve (prints the URL; Ctrl-C stops)
#   scripts/www.sh build      build only
#   scripts/www.sh --port N   serve on port N (default: a free port)
#
# The page's module is the crate built with `--features simulator` (the simulator, backoff
# samples and the preset table as exports) into its own target directory, so it never
# touches the npm package (scripts/build-pkg.mjs), which stays without the simulator:
#
#   cargo build (wasm32, release) -> wasm-bindgen --target web -> wasm-opt -Oz
#   -> www/pkg/ (gitignored)
#
# The live-batch section of the page loads the npm package from pkg/ (served at /npm/) when
# it has been built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'www: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'www: %s\n' "$*" >&2; }

mode=serve
port=0
while [ $# -gt 0 ]; do
  case "$1" in
    build) mode=build ;;
    --port) port=${2:?--port needs a value}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
  shift
done

# --- tools -------------------------------------------------------------------------------
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
command -v wasm-bindgen >/dev/null || die "wasm-bindgen CLI not found; run scripts/setup.sh"
have=$(wasm-bindgen --version | awk '{print $2}')
[ "$have" = "$want" ] || die "wasm-bindgen CLI is $have but Cargo.lock pins $want (scripts/setup.sh)"
wasm_opt=node_modules/.bin/wasm-opt # npm binaryen; Debian's older one writes broken modules
[ -x "$wasm_opt" ] || die "$wasm_opt not found; run npm ci"

# --- compile, in a target dir of its own (the npm build's stays as it is) -----------------
export CARGO_TARGET_DIR=target/www
cargo build --quiet --release --target wasm32-unknown-unknown --lib --features simulator
raw=$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/llm_pacer.wasm

stamp=$( { sha256sum "$raw" scripts/www.sh "$wasm_opt"; echo "$have"; } | sha256sum | cut -d' ' -f1)
out=www/pkg
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/llm_pacer_bg.wasm" ]; then
  log "www/pkg is up to date"
else
  tmp=$(mktemp -d target/www-pkg.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  wasm-bindgen --target web --out-dir "$tmp" --remove-name-section --remove-producers-section "$raw"
  "$wasm_opt" -Oz --strip-target-features "$tmp/llm_pacer_bg.wasm" -o "$tmp/opt.wasm"
  mv "$tmp/opt.wasm" "$tmp/llm_pacer_bg.wasm"
  echo "$stamp" >"$tmp/stamp"
  rm -rf "$out"
  mkdir -p www
  mv "$tmp" "$out"
  trap - EXIT
  log "built www/pkg"
fi

gz() { gzip -9c "$1" | wc -c; }
printf '\n%-28s %8s %9s\n' "the page loads" "bytes" "gzipped" >&2
for f in "$out/llm_pacer_bg.wasm" "$out/llm_pacer.js" www/index.html www/app.js www/plot.js www/style.css; do
  [ -f "$f" ] && printf '%-28s %8d %9d\n' "$f" "$(wc -c <"$f")" "$(gz "$f")" >&2
done
printf '%-28s %8s %9s\n' "(on demand) www/live.js" "$(wc -c <www/live.js)" "$(gz www/live.js)" >&2

[ "$mode" = serve ] || exit 0
[ -f pkg/package.json ] || log "note: pkg/ is not built; the live-batch section needs scripts/build-pkg.mjs"
exec node www/serve.mjs --port "$port"
