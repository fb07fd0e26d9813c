#!/usr/bin/env bash
# Build the npm package into pkg/ from the Rust crate and pkg-template/:
#
#   cargo build (wasm32, release) -> wasm-bindgen (web and nodejs glue) -> wasm-opt -Oz
#   -> pkg/ (entries assembled from pkg-template/, minified by esbuild) -> node_modules/llm-pacer -> ../pkg
#
# Idempotent, and quick when nothing changed (cargo's own check, then a stamp over every
# input of the later steps). Prints the gzipped sizes of what each entry loads.
#
# Layout of pkg/:
#   llm_pacer_bg.wasm            the one Wasm module, shared by every entry
#   web/llm_pacer.js             wasm-bindgen glue, --target web (ESM, initSync / init)
#   web/index.js                 "browser" and "default": ready on import (top-level await)
#   llm_pacer_do_bg.wasm         the module of the workerd entries: the main one plus the
#                                `storeOp` export (feature `durable-object`) that
#                                llm-pacer/cloudflare's Durable Object runs (2.6 KB gzipped no
#                                other runtime loads)
#   web/llm_pacer_do.js          its wasm-bindgen glue, --target web
#   web/workerd.js               "workerd": imports llm_pacer_do_bg.wasm as a module, initSync
#   web/cloudflare.js            "./cloudflare": PacerLimits (a Durable Object running the same
#                                module through its storeOp export) and durableObjectStore
#   web/bun.js                   "bun": imports the .wasm as a file, initSync
#   web/slim.js                  "./slim": the caller runs `await init()` first
#   llm_pacer_bg.js              wasm-bindgen glue, --target bundler: what the .wasm imports
#                                when a runtime links it as an ES module (Deno)
#   deno/index.js                "deno": imports the .wasm as an ES module (no file read)
#   node/llm_pacer.cjs           wasm-bindgen glue, --target nodejs (CommonJS, sync load)
#   node/index.cjs               "node" + require
#   node/index.mjs               "node" + import: re-exports index.cjs (one instance)
#   simulate/                    "./simulate": the simulator (the crate built with
#                                `--features simulator`, a module of its own, so the main
#                                entries never load it):
#     llm_pacer_sim_bg.wasm      its Wasm module
#     llm_pacer_sim.js           wasm-bindgen glue, --target web
#     index.js                   "default" (browsers, bundlers): ready on import (top-level await)
#     llm_pacer_sim.cjs          wasm-bindgen glue, --target nodejs
#     index.cjs, index.mjs       "node" + require / import (one instance)
#   opentelemetry/               "./opentelemetry": `instrument(pacer)`, plain JavaScript over
#     index.js, index.cjs        the peer dependency @opentelemetry/api (ESM, CommonJS)
#   bin/                         the `llm-pacer` command (package.json "bin")
#   index.d.ts, index.d.cts, slim.d.ts, cloudflare.d.ts, simulate.d.ts, simulate.d.cts, opentelemetry.d.ts,
#   opentelemetry.d.cts, package.json, README.md
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
esbuild=node_modules/.bin/esbuild # minifies the shipped JavaScript
[ -x "$esbuild" ] || die "$esbuild not found; run npm ci"

# --- compile -----------------------------------------------------------------------------
cargo build --quiet --release --target wasm32-unknown-unknown --lib
raw=target/wasm32-unknown-unknown/release/llm_pacer.wasm
# The simulator's module: the same build as the demo page's (scripts/www.sh), in the same
# target directory, so neither rebuilds what the other built.
CARGO_TARGET_DIR=target/www cargo build --quiet --release --target wasm32-unknown-unknown --lib --features simulator
raw_sim=target/www/wasm32-unknown-unknown/release/llm_pacer.wasm
# The workerd entries' module: the main one plus the Durable Object's `storeOp` export.
CARGO_TARGET_DIR=target/do cargo build --quiet --release --target wasm32-unknown-unknown --lib --features durable-object
raw_do=target/do/wasm32-unknown-unknown/release/llm_pacer.wasm

# --- later steps only when an input changed ----------------------------------------------
work=target/pkg-build
stamp=$( {
  sha256sum "$raw" "$raw_sim" "$raw_do" Cargo.toml README.md scripts/build-pkg.sh "$wasm_opt" "$esbuild"
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
  wasm-bindgen --target bundler --out-dir "$work/bundler" "${flags[@]}" "$raw"
  for target in node bundler; do
    cmp -s "$work/web/llm_pacer_bg.wasm" "$work/$target/llm_pacer_bg.wasm" ||
      die "the web and $target targets produced different .wasm files; the package ships one"
  done
  # -Oz until nothing changes (--converge), with the effects of each function known first;
  # before it, the control flow flattened and re-built (--flatten --rereloop: 0.4 KB gzipped
  # less), and --low-memory-unused (Rust's wasm32 layout puts the stack first, from 1 MB down,
  # so the low 1 KB is never addressed; loads and stores fold constant offsets: 0.2 KB less).
  opt=(--low-memory-unused --generate-global-effects --flatten --rereloop -Oz -Oz --converge --strip-target-features)
  "$wasm_opt" "${opt[@]}" "$work/web/llm_pacer_bg.wasm" -o "$work/llm_pacer_bg.wasm"
  # The workerd entries' module, named apart from the main one.
  wasm-bindgen --target web --out-name llm_pacer_do --out-dir "$work/do-web" "${flags[@]}" "$raw_do"
  "$wasm_opt" "${opt[@]}" "$work/do-web/llm_pacer_do_bg.wasm" -o "$work/llm_pacer_do_bg.wasm"

  # The simulator's module: web and nodejs glue around one .wasm, named apart from the main one.
  for target in web nodejs; do
    wasm-bindgen --target "$target" --out-name llm_pacer_sim --out-dir "$work/sim-$target" "${flags[@]}" "$raw_sim"
  done
  cmp -s "$work/sim-web/llm_pacer_sim_bg.wasm" "$work/sim-nodejs/llm_pacer_sim_bg.wasm" ||
    die "the web and nodejs targets produced different simulator .wasm files; the package ships one"
  "$wasm_opt" "${opt[@]}" "$work/sim-web/llm_pacer_sim_bg.wasm" -o "$work/llm_pacer_sim_bg.wasm"

  out="$work/pkg"
  mkdir -p "$out/web" "$out/node" "$out/deno" "$out/simulate"
  # Next to its glue, which finds it there (the web glue's fallback URL, the nodejs glue's
  # `${__dirname}`); the entries name it explicitly too (bundlers emit it as an asset).
  cp "$work/llm_pacer_sim_bg.wasm" "$out/simulate/"
  cp "$work/sim-web/llm_pacer_sim.js" "$out/simulate/llm_pacer_sim.js"
  cp "$work/sim-nodejs/llm_pacer_sim.js" "$out/simulate/llm_pacer_sim.cjs"
  cp "$work/llm_pacer_bg.wasm" "$out/"
  cp "$work/llm_pacer_do_bg.wasm" "$out/"
  # The .wasm imports its bindings from "./llm_pacer_bg.js": the bundler glue, next to it.
  cp "$work/bundler/llm_pacer_bg.js" "$out/llm_pacer_bg.js"
  # The web glue's fallback URL (used by `init()` with no argument, and seen by bundlers such
  # as Vite, which emit the file it names as an asset) must name the one .wasm, one level up.
  sed "s|new URL('llm_pacer_bg.wasm', import.meta.url)|new URL('../llm_pacer_bg.wasm', import.meta.url)|" \
    "$work/web/llm_pacer.js" >"$out/web/llm_pacer.js"
  grep -q "new URL('../llm_pacer_bg.wasm', import.meta.url)" "$out/web/llm_pacer.js" ||
    die "could not point the web glue at ../llm_pacer_bg.wasm (wasm-bindgen output changed?)"
  sed "s|new URL('llm_pacer_do_bg.wasm', import.meta.url)|new URL('../llm_pacer_do_bg.wasm', import.meta.url)|" \
    "$work/do-web/llm_pacer_do.js" >"$out/web/llm_pacer_do.js"
  grep -q "new URL('../llm_pacer_do_bg.wasm', import.meta.url)" "$out/web/llm_pacer_do.js" ||
    die "could not point the workerd glue at ../llm_pacer_do_bg.wasm (wasm-bindgen output changed?)"
  # The nodejs glue reads its .wasm next to itself; ours is one directory up.
  sed 's|`${__dirname}/llm_pacer_bg.wasm`|`${__dirname}/../llm_pacer_bg.wasm`|' \
    "$work/node/llm_pacer.js" >"$out/node/llm_pacer.cjs"
  grep -q '/../llm_pacer_bg.wasm' "$out/node/llm_pacer.cjs" ||
    die "could not point the nodejs glue at ../llm_pacer_bg.wasm (wasm-bindgen output changed?)"
  # Short import names. wasm-bindgen names each import after its Rust path plus a hash
  # (`__wbg_new_with_byte_offset_and_length_3cd32055a417f095`), and each name is written
  # twice, in the module's import section and as a key in the glue's import object: renamed
  # to `w0`, `w1`, ... in the module and in every glue alike (web, nodejs, and the bundler
  # glue Deno imports next to the .wasm), they cost 2.5 KB gzipped less.
  # The imports come from "./<module name>.js" (llm_pacer_bg.js, llm_pacer_do_bg.js).
  cat >"$work/shorten.cjs" <<'JS'
const fs = require("fs");
const path = require("path");
const [wasmPath, ...gluePaths] = process.argv.slice(2);
const from = "./" + path.basename(wasmPath).replace(/\.wasm$/, ".js");
const w = fs.readFileSync(wasmPath);
const leb = (b, i) => { // unsigned LEB128 (32-bit) -> [value, next index]
  let r = 0, s = 0, x;
  do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
  return [r, i];
};
const enc = (n) => { // unsigned LEB128
  const o = [];
  do { const x = n % 128; n = Math.floor(n / 128); o.push(n ? x | 0x80 : x); } while (n);
  return Buffer.from(o);
};
const names = new Map();
const out = [w.subarray(0, 8)];
for (let i = 8; i < w.length;) {
  const id = w[i];
  const [size, start] = leb(w, i + 1);
  let body = w.subarray(start, start + size);
  if (id === 2) { // the import section: (module, name, kind, type index)*
    let [n, k] = leb(body, 0);
    const parts = [enc(n)];
    for (let e = 0; e < n; e++) {
      let len;
      [len, k] = leb(body, k);
      const mod = body.subarray(k, (k += len));
      [len, k] = leb(body, k);
      const name = body.toString("utf8", k, (k += len));
      const desc = k;
      if (body[k++] !== 0) throw new Error(`import ${name} is not a function`);
      [, k] = leb(body, k);
      let short = name;
      if (mod.toString() === from) {
        short = "w" + names.size.toString(36);
        names.set(name, short);
      }
      parts.push(enc(mod.length), mod, enc(short.length), Buffer.from(short), body.subarray(desc, k));
    }
    if (k !== body.length) throw new Error("import section not read to its end");
    body = Buffer.concat(parts);
  }
  out.push(Buffer.from([id]), enc(body.length), body);
  i = start + size;
}
if (names.size === 0) throw new Error(`no imports from ${from}`);
fs.writeFileSync(wasmPath, Buffer.concat(out));
for (const p of gluePaths) {
  let s = fs.readFileSync(p, "utf8");
  for (const [long, short] of names) {
    const re = new RegExp(`\\b${long}\\b`, "g");
    if (!re.test(s)) throw new Error(`${p} does not name the import ${long}`);
    s = s.replace(re, short);
  }
  fs.writeFileSync(p, s);
}
JS
  node "$work/shorten.cjs" "$out/llm_pacer_bg.wasm" "$out/web/llm_pacer.js" "$out/node/llm_pacer.cjs" \
    "$out/llm_pacer_bg.js" ||
    die "could not shorten the import names (wasm-bindgen output changed?)"
  node "$work/shorten.cjs" "$out/llm_pacer_do_bg.wasm" "$out/web/llm_pacer_do.js" ||
    die "could not shorten the import names of the workerd module (wasm-bindgen output changed?)"

  # Each entry: the template with every `// @include FILE` line replaced by
  # pkg-template/FILE (itself expanded the same way: api.js includes strict.js), and
  # `// @exports EXPR` by `export const { <every name createApi returns> } = EXPR;`: the names
  # are listed once, in the `return { ... }` that ends pkg-template/api.js.
  api_names=$(node -e '
    const s = require("fs").readFileSync("pkg-template/api.js", "utf8");
    const m = s.match(/return \{([^{}]*)\};\s*\}\s*$/);
    if (!m) process.exit(1);
    console.log(m[1].split(",").map((x) => x.trim()).filter(Boolean).join(", "));
  ') || die "could not read the export list at the end of pkg-template/api.js"
  assemble() { # template output
    awk -v names="$api_names" '
      function include(file,   line) {
        while ((getline line < file) > 0) {
          if (line ~ /^\/\/ @include [a-z.-]+$/) include("pkg-template/" substr(line, 13))
          else print line
        }
        close(file)
      }
      /^\/\/ @include [a-z.-]+$/ { include("pkg-template/" substr($0, 13)); next }
      /^\/\/ @exports / { print "export const { " names " } = " substr($0, 13) ";"; next }
      { print }' "pkg-template/entry/$1" >"$out/$2"
    ! grep -q '@include\|@exports' "$out/$2" || die "unexpanded @include or @exports in $2"
  }
  assemble default.js web/index.js
  assemble slim.js web/slim.js
  assemble workerd.js web/workerd.js
  # llm-pacer/cloudflare: the Durable Object store; like workerd.js, it imports the .wasm as a
  # module and the web glue (one instance with the main entry's); no Pacer here, only the
  # PacerStore face it shares with llm-pacer/redis (pkg-template/store-face.js).
  assemble cloudflare.js web/cloudflare.js
  assemble deno.js deno/index.js
  assemble bun.js web/bun.js
  assemble node.cjs node/index.cjs
  assemble node.mjs node/index.mjs
  assemble simulate.js simulate/index.js
  assemble simulate.cjs simulate/index.cjs
  assemble simulate.mjs simulate/index.mjs
  # llm-pacer/opentelemetry: plain JavaScript over the peer dependency @opentelemetry/api (no
  # Wasm), ESM and a CommonJS copy of it.
  mkdir -p "$out/opentelemetry"
  cp pkg-template/entry/opentelemetry.js "$out/opentelemetry/index.js"
  "$esbuild" --log-level=warning --format=cjs pkg-template/entry/opentelemetry.js \
    --outfile="$out/opentelemetry/index.cjs" || die "esbuild could not write the CommonJS opentelemetry entry"
  # llm-pacer/redis: the Redis PacerStore, plain JavaScript with no dependency (the caller
  # passes its own client), ESM and a CommonJS copy of it; its PacerStore face is
  # store-face.js, shared with llm-pacer/cloudflare.
  mkdir -p "$out/redis"
  assemble redis.js redis/index.js
  "$esbuild" --log-level=warning --format=cjs "$out/redis/index.js" \
    --outfile="$out/redis/index.cjs" || die "esbuild could not write the CommonJS redis entry"

  # Minified (esbuild, file by file, no bundling): comments are for the sources (pkg-template/,
  # the Rust docs that wasm-bindgen copies into its glue; users read index.d.ts), and short
  # local names and no whitespace make the shipped JavaScript some 2 KB gzipped smaller per
  # entry. The entries keep their names (`--keep-names`: `Pacer.name`, the error classes'
  # `name`, stack traces); the generated glue, whose names nobody sees, does not. Every
  # export keeps its name, and every file must still parse.
  for f in "$out"/web/*.js "$out"/llm_pacer_bg.js "$out"/deno/*.js "$out"/node/*.cjs "$out"/node/*.mjs "$out"/simulate/*.*js "$out"/opentelemetry/*.*js "$out"/redis/*.*js; do
    case "$f" in *.cjs) format=cjs ;; *) format=esm ;; esac
    case "$f" in */llm_pacer*.*js) names=() ;; *) names=(--keep-names) ;; esac
    "$esbuild" --log-level=warning --minify "${names[@]}" --legal-comments=none --format="$format" \
      "$f" --outfile="$f.min" || die "esbuild could not minify $f"
    mv "$f.min" "$f"
    node --check "$f" || die "$f does not parse once minified"
  done

  cp pkg-template/index.d.ts "$out/index.d.ts"
  cp pkg-template/index.d.ts "$out/index.d.cts"
  cp pkg-template/slim.d.ts "$out/"
  # The README: pkg-template/README.md with its `include` lines filled from README.md.
  node - pkg-template/README.md README.md "$out/README.md" <<'JS' || die "could not write the package README"
const fs = require("fs");
const [template, source, dest] = process.argv.slice(2);
const readme = fs.readFileSync(source, "utf8");
const part = (what) => {
  if (what === "intro") return readme.slice(0, readme.search(/^## /m)).trimEnd();
  const start = readme.indexOf(`\n${what}\n`);
  if (start < 0) throw new Error(`README.md has no section ${what}`);
  const rest = readme.slice(start + 1);
  const end = rest.slice(what.length).search(/^## /m);
  return (end < 0 ? rest : rest.slice(0, what.length + end)).trimEnd();
};
const out = fs
  .readFileSync(template, "utf8")
  .replace(/^<!--\n[\s\S]*?-->\n/, "") // the template's own comment
  .replace(/^<!-- include README\.md (.+) -->$/gm, (_, what) => `${part(what)}\n`);
fs.writeFileSync(dest, out);
JS
  cp pkg-template/simulate.d.ts "$out/simulate.d.ts"
  cp pkg-template/simulate.d.ts "$out/simulate.d.cts"
  cp pkg-template/opentelemetry.d.ts "$out/opentelemetry.d.ts"
  cp pkg-template/opentelemetry.d.ts "$out/opentelemetry.d.cts"
  cp pkg-template/redis.d.ts "$out/redis.d.ts"
  cp pkg-template/redis.d.ts "$out/redis.d.cts"
  cp pkg-template/cloudflare.d.ts "$out/cloudflare.d.ts"
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
row_of() { # wasm label files...
  local wasm=$1 label=$2
  shift 2
  local raw_total gz_total
  raw_total=$(wc -c <"$wasm")
  gz_total=$(gz "$wasm")
  for f in "$@"; do
    raw_total=$((raw_total + $(wc -c <"$f")))
    gz_total=$((gz_total + $(gz "$f")))
  done
  printf '%-34s %8d %9d\n' "$label" "$raw_total" "$gz_total"
}
row() { row_of pkg/llm_pacer_bg.wasm "$@"; }
do_row() { row_of pkg/llm_pacer_do_bg.wasm "$@"; }
printf '%-34s %8d %9d\n' "llm_pacer_bg.wasm alone" "$(wc -c <pkg/llm_pacer_bg.wasm)" "$wasm_gz"
row "default (web/index.js + glue)" pkg/web/index.js pkg/web/llm_pacer.js
row "slim (web/slim.js + glue)" pkg/web/slim.js pkg/web/llm_pacer.js
do_row "workerd (web/workerd.js + glue)" pkg/web/workerd.js pkg/web/llm_pacer_do.js
row "deno (deno/index.js + glue)" pkg/deno/index.js pkg/llm_pacer_bg.js
row "bun (web/bun.js + glue)" pkg/web/bun.js pkg/web/llm_pacer.js
row "node require (index.cjs + glue)" pkg/node/index.cjs pkg/node/llm_pacer.cjs
row "node import (+ index.mjs)" pkg/node/index.mjs pkg/node/index.cjs pkg/node/llm_pacer.cjs
# The simulator loads its own module, not the main one.
sim_wasm=pkg/simulate/llm_pacer_sim_bg.wasm
sim_row() { row_of "$sim_wasm" "$@"; }
sim_row "llm-pacer/simulate (default)" pkg/simulate/index.js pkg/simulate/llm_pacer_sim.js
sim_row "llm-pacer/simulate (node import)" pkg/simulate/index.mjs pkg/simulate/index.cjs pkg/simulate/llm_pacer_sim.cjs
printf '%-34s %8d %9d\n' "llm-pacer/opentelemetry (no wasm)" "$(wc -c <pkg/opentelemetry/index.js)" "$(gz pkg/opentelemetry/index.js)"
do_row "llm-pacer/cloudflare (+ glue)" pkg/web/cloudflare.js pkg/web/llm_pacer_do.js
printf '%-34s %8d %9d\n' "llm-pacer/redis (no wasm)" "$(wc -c <pkg/redis/index.js)" "$(gz pkg/redis/index.js)"
