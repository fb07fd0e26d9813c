#!/usr/bin/env node
// Build the npm package into pkg/ from the Rust crate and pkg-template/:
//
//   cargo build (wasm32, release; three modules) -> wasm-bindgen (glue) -> wasm-opt -Oz
//   -> short import names -> the entries bundled by esbuild from pkg-template/ -> pkg/
//   -> node_modules/llm-pacer -> ../pkg
//
//   node scripts/build-pkg.mjs
//
// Idempotent, and quick when nothing changed (cargo's own check, then a stamp over every
// input of the later steps). Prints the gzipped sizes of what each entry loads.
//
// Layout of pkg/:
//   llm_pacer_bg.wasm            the main Wasm module, shared by the entries below but workerd's
//   llm_pacer_do_bg.wasm         the module of the workerd entries: the main one plus the
//                                `storeOp` export (feature `durable-object`) that
//                                llm-pacer/cloudflare's Durable Object runs
//   web/llm_pacer.js             wasm-bindgen glue, --target web (ESM, initSync / init)
//   web/llm_pacer_do.js          the workerd module's glue, --target web
//   web/index.js                 "browser" and "default": ready on import (top-level await)
//   web/workerd.js               "workerd": imports llm_pacer_do_bg.wasm as a module, initSync
//   web/cloudflare.js            "./cloudflare": PacerLimits (a Durable Object running the same
//                                module through its storeOp export) and durableObjectStore
//   web/bun.js                   "bun": imports the .wasm as a file, initSync
//   web/slim.js                  "./slim": the caller runs `await init()` first
//   llm_pacer_bg.js              wasm-bindgen glue, --target bundler: what the .wasm imports
//                                when a runtime links it as an ES module (Deno)
//   deno/index.js                "deno": imports the .wasm as an ES module (no file read)
//   node/llm_pacer.cjs           wasm-bindgen glue, --target nodejs (CommonJS, sync load)
//   node/index.cjs               "node" + require
//   node/index.mjs               "node" + import: re-exports index.cjs (one instance)
//   node/cloudflare.cjs          "./cloudflare" under "node": throws, saying it runs in workerd only
//   simulate/                    "./simulate": the simulator (the crate built with
//                                `--features simulator`, a module of its own, so the main
//                                entries never load it): llm_pacer_sim_bg.wasm, its web
//                                (llm_pacer_sim.js) and nodejs (llm_pacer_sim.cjs) glue, and
//                                index.js ("default"), index.cjs / index.mjs ("node")
//   opentelemetry/               "./opentelemetry": `instrument(pacer)`, plain JavaScript over
//     index.js, index.cjs        the peer dependency @opentelemetry/api (ESM, CommonJS)
//   redis/index.js, index.cjs    "./redis": the Redis PacerStore, plain JavaScript
//   bin/                         the `llm-pacer` command (package.json "bin")
//   *.d.ts, *.d.cts, package.json, README.md
//
// The entries (pkg-template/entry/) are ES modules that import the shared sources
// (pkg-template/api.js, binding.js, body-watch.js, stream-resume.js, scrub.js, strict.js, store-face.js, own-context.js,
// simulate-options.js); esbuild
// bundles each into one file, minified, and leaves the generated glue, the .wasm files and
// the runtimes' own modules as imports (one glue per module, shared by the entries that load
// it, so that one program has one instance of each module).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

const die = (msg) => {
  process.stderr.write(`build-pkg: error: ${msg}\n`);
  process.exit(1);
};
const log = (msg) => process.stderr.write(`build-pkg: ${msg}\n`);
/** Run a command, its output to stderr; die naming it if it fails. */
const run = (cmd, args, env = {}) => {
  try {
    execFileSync(cmd, args, { stdio: ["ignore", process.stderr, "inherit"], env: { ...process.env, ...env } });
  } catch {
    die(`${cmd} ${args.join(" ")} failed`);
  }
};

// --- tools -------------------------------------------------------------------------------
const lock = fs.readFileSync("Cargo.lock", "utf8");
const want = lock.match(/name = "wasm-bindgen"\nversion = "([^"]+)"/)?.[1] ?? die("no wasm-bindgen in Cargo.lock");
let have;
try {
  have = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" }).trim().split(/\s+/)[1];
} catch {
  die(`wasm-bindgen CLI not found; install version ${want} (scripts/setup.sh)`);
}
if (have !== want) {
  die(`wasm-bindgen CLI is ${have} but Cargo.lock pins ${want}; the glue must match (scripts/setup.sh installs it)`);
}
const wasmOpt = "node_modules/.bin/wasm-opt"; // npm binaryen; Debian's older one writes broken modules
if (!fs.existsSync(wasmOpt)) die(`${wasmOpt} not found; run npm ci`);
let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  die("esbuild not found; run npm ci");
}

// --- compile -----------------------------------------------------------------------------
const cargo = (targetDir, features) =>
  run("cargo", ["build", "--quiet", "--release", "--target", "wasm32-unknown-unknown", "--lib", ...features], {
    CARGO_TARGET_DIR: targetDir,
  });
cargo("target", []);
const raw = "target/wasm32-unknown-unknown/release/llm_pacer.wasm";
// The simulator's module: the same build as the demo page's (scripts/www.sh), in the same
// target directory, so neither rebuilds what the other built.
cargo("target/www", ["--features", "simulator"]);
const rawSim = "target/www/wasm32-unknown-unknown/release/llm_pacer.wasm";
// The workerd entries' module: the main one plus the Durable Object's `storeOp` export.
cargo("target/do", ["--features", "durable-object"]);
const rawDo = "target/do/wasm32-unknown-unknown/release/llm_pacer.wasm";

// --- later steps only when an input changed ----------------------------------------------
const work = "target/pkg-build";
const files = (dir) =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
const stampHash = createHash("sha256");
for (const f of [
  raw,
  rawSim,
  rawDo,
  "Cargo.toml",
  "README.md",
  "scripts/build-pkg.mjs",
  wasmOpt,
  "node_modules/esbuild/package.json",
  ...files("pkg-template"),
]) {
  stampHash.update(f).update(fs.readFileSync(f));
}
stampHash.update(have);
const stamp = stampHash.digest("hex");

if (
  fs.existsSync(`${work}/stamp`) &&
  fs.readFileSync(`${work}/stamp`, "utf8") === stamp &&
  fs.existsSync("pkg/package.json")
) {
  log("pkg/ is up to date");
} else {
  await build();
  fs.writeFileSync(`${work}/stamp`, stamp);
}

// --- make `import "llm-pacer"` resolve to pkg/ through its real exports map ---------------
fs.mkdirSync("node_modules", { recursive: true });
let link;
try {
  link = fs.readlinkSync("node_modules/llm-pacer");
} catch {}
if (link !== "../pkg") {
  fs.rmSync("node_modules/llm-pacer", { recursive: true, force: true });
  fs.symlinkSync("../pkg", "node_modules/llm-pacer");
}

printSizes();

async function build() {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const flags = ["--remove-name-section", "--remove-producers-section"];
  const bindgen = (target, input, outDir, outName) =>
    run("wasm-bindgen", [
      "--target",
      target,
      "--out-dir",
      `${work}/${outDir}`,
      ...(outName ? ["--out-name", outName] : []),
      ...flags,
      input,
    ]);
  bindgen("web", raw, "web");
  bindgen("nodejs", raw, "node");
  bindgen("bundler", raw, "bundler");
  for (const t of ["node", "bundler"]) {
    if (!fs.readFileSync(`${work}/web/llm_pacer_bg.wasm`).equals(fs.readFileSync(`${work}/${t}/llm_pacer_bg.wasm`))) {
      die(`the web and ${t} targets produced different .wasm files; the package ships one`);
    }
  }
  // -Oz until nothing changes (--converge), with the effects of each function known first;
  // before it, the control flow flattened and re-built (--flatten --rereloop: 0.4 KB gzipped
  // less), and --low-memory-unused (Rust's wasm32 layout puts the stack first, from 1 MB down,
  // so the low 1 KB is never addressed; loads and stores fold constant offsets: 0.2 KB less).
  const opt = (input, output) =>
    run(wasmOpt, [
      "--low-memory-unused",
      "--generate-global-effects",
      "--flatten",
      "--rereloop",
      "-Oz",
      "-Oz",
      "--converge",
      "--strip-target-features",
      input,
      "-o",
      output,
    ]);
  opt(`${work}/web/llm_pacer_bg.wasm`, `${work}/llm_pacer_bg.wasm`);
  // The workerd entries' module, named apart from the main one.
  bindgen("web", rawDo, "do-web", "llm_pacer_do");
  opt(`${work}/do-web/llm_pacer_do_bg.wasm`, `${work}/llm_pacer_do_bg.wasm`);
  // The simulator's module: web and nodejs glue around one .wasm, named apart from the main one.
  bindgen("web", rawSim, "sim-web", "llm_pacer_sim");
  bindgen("nodejs", rawSim, "sim-nodejs", "llm_pacer_sim");
  if (
    !fs
      .readFileSync(`${work}/sim-web/llm_pacer_sim_bg.wasm`)
      .equals(fs.readFileSync(`${work}/sim-nodejs/llm_pacer_sim_bg.wasm`))
  ) {
    die("the web and nodejs targets produced different simulator .wasm files; the package ships one");
  }
  opt(`${work}/sim-web/llm_pacer_sim_bg.wasm`, `${work}/llm_pacer_sim_bg.wasm`);

  const out = `${work}/pkg`;
  for (const d of ["web", "node", "deno", "simulate", "opentelemetry", "redis"])
    fs.mkdirSync(`${out}/${d}`, { recursive: true });
  // Next to their glue, which finds them there (the web glue's fallback URL, the nodejs glue's
  // `${__dirname}`); the entries name them explicitly too (bundlers emit them as assets).
  fs.copyFileSync(`${work}/llm_pacer_sim_bg.wasm`, `${out}/simulate/llm_pacer_sim_bg.wasm`);
  fs.copyFileSync(`${work}/sim-web/llm_pacer_sim.js`, `${out}/simulate/llm_pacer_sim.js`);
  fs.copyFileSync(`${work}/sim-nodejs/llm_pacer_sim.js`, `${out}/simulate/llm_pacer_sim.cjs`);
  fs.copyFileSync(`${work}/llm_pacer_bg.wasm`, `${out}/llm_pacer_bg.wasm`);
  fs.copyFileSync(`${work}/llm_pacer_do_bg.wasm`, `${out}/llm_pacer_do_bg.wasm`);
  // The .wasm imports its bindings from "./llm_pacer_bg.js": the bundler glue, next to it.
  fs.copyFileSync(`${work}/bundler/llm_pacer_bg.js`, `${out}/llm_pacer_bg.js`);
  // The main modules' glue lives beside the entries (web/, node/) and their .wasm one level
  // up, where every entry shares it: the paths the glue computes for itself name that level.
  // Two checked replacements of generated text, each failing the build if the glue changed:
  // the web glue's fallback URL (used by `init()` with no argument, and seen by bundlers such
  // as Vite, which emit the file it names as an asset), and the nodejs glue's file read.
  const repoint = (from, to, find, replace) => {
    const text = fs.readFileSync(from, "utf8");
    if (!text.includes(find)) die(`${from} does not contain ${find} (wasm-bindgen output changed?)`);
    fs.writeFileSync(to, text.replace(find, replace));
  };
  repoint(
    `${work}/web/llm_pacer.js`,
    `${out}/web/llm_pacer.js`,
    "new URL('llm_pacer_bg.wasm', import.meta.url)",
    "new URL('../llm_pacer_bg.wasm', import.meta.url)",
  );
  repoint(
    `${work}/do-web/llm_pacer_do.js`,
    `${out}/web/llm_pacer_do.js`,
    "new URL('llm_pacer_do_bg.wasm', import.meta.url)",
    "new URL('../llm_pacer_do_bg.wasm', import.meta.url)",
  );
  repoint(
    `${work}/node/llm_pacer.js`,
    `${out}/node/llm_pacer.cjs`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the glue's own template literal, as text
    "`${__dirname}/llm_pacer_bg.wasm`",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the same, repointed
    "`${__dirname}/../llm_pacer_bg.wasm`",
  );
  // Short import names (2.5 KB gzipped less per module).
  shorten(`${out}/llm_pacer_bg.wasm`, [
    `${out}/web/llm_pacer.js`,
    `${out}/node/llm_pacer.cjs`,
    `${out}/llm_pacer_bg.js`,
  ]);
  shorten(`${out}/llm_pacer_do_bg.wasm`, [`${out}/web/llm_pacer_do.js`]);

  // The entries, bundled: each is one file with the shared sources it imports; the glue, the
  // .wasm files and the runtimes' modules stay imports, resolved where the entry lands.
  const external = {
    name: "external",
    setup(b) {
      b.onResolve(
        { filter: /(llm_pacer[a-z_]*\.(js|cjs|wasm)|index\.cjs)$|^cloudflare:|^node:|^@opentelemetry\// },
        (a) => ({
          path: a.path,
          external: true,
        }),
      );
    },
  };
  const entries = [
    ["default.js", "web/index.js"],
    ["slim.js", "web/slim.js"],
    ["workerd.js", "web/workerd.js"],
    ["cloudflare.js", "web/cloudflare.js"],
    ["cloudflare-node.js", "node/cloudflare.cjs", "cjs"],
    ["bun.js", "web/bun.js"],
    ["deno.js", "deno/index.js"],
    ["node.js", "node/index.cjs", "cjs"],
    ["node.mjs", "node/index.mjs"],
    ["simulate.js", "simulate/index.js"],
    ["simulate-node.js", "simulate/index.cjs", "cjs"],
    ["simulate.mjs", "simulate/index.mjs"],
    ["opentelemetry.js", "opentelemetry/index.js"],
    ["opentelemetry.js", "opentelemetry/index.cjs", "cjs"],
    ["redis.js", "redis/index.js"],
    ["redis.js", "redis/index.cjs", "cjs"],
  ];
  for (const [src, dest, format = "esm"] of entries) {
    // Minified, keeping the names users see (`Pacer.name`, the error classes' `name`, stack
    // traces); comments are for the sources (users read index.d.ts).
    await esbuild.build({
      entryPoints: [`pkg-template/entry/${src}`],
      outfile: `${out}/${dest}`,
      bundle: true,
      format,
      // For CommonJS, "node": esbuild then annotates the export names for Node's
      // cjs-module-lexer, so that the ESM entries' `export * from "./index.cjs"` sees them.
      platform: format === "cjs" ? "node" : "neutral",
      target: "es2022",
      minify: true,
      keepNames: true,
      legalComments: "none",
      logLevel: "warning",
      plugins: [external],
    });
  }
  // The generated glue, minified file by file (its names nobody sees).
  for (const f of [
    `${out}/web/llm_pacer.js`,
    `${out}/web/llm_pacer_do.js`,
    `${out}/llm_pacer_bg.js`,
    `${out}/node/llm_pacer.cjs`,
    `${out}/simulate/llm_pacer_sim.js`,
    `${out}/simulate/llm_pacer_sim.cjs`,
  ]) {
    const r = await esbuild.transform(fs.readFileSync(f, "utf8"), {
      minify: true,
      legalComments: "none",
      format: f.endsWith(".cjs") ? "cjs" : "esm",
      target: "es2022",
    });
    fs.writeFileSync(f, r.code);
  }
  // Every file must still parse.
  for (const f of files(out).filter((f) => /\.(c|m)?js$/.test(f))) {
    try {
      execFileSync(process.execPath, ["--check", f], { stdio: "pipe" });
    } catch (e) {
      die(`${f} does not parse: ${e.stderr}`);
    }
  }

  const cp = (from, to) => fs.copyFileSync(`pkg-template/${from}`, `${out}/${to}`);
  for (const [from, tos] of Object.entries({
    "index.d.ts": ["index.d.ts", "index.d.cts"],
    "slim.d.ts": ["slim.d.ts"],
    "simulate.d.ts": ["simulate.d.ts", "simulate.d.cts"],
    "opentelemetry.d.ts": ["opentelemetry.d.ts", "opentelemetry.d.cts"],
    "redis.d.ts": ["redis.d.ts", "redis.d.cts"],
    "cloudflare.d.ts": ["cloudflare.d.ts"],
  })) {
    for (const to of tos) cp(from, to);
  }
  fs.cpSync("pkg-template/bin", `${out}/bin`, { recursive: true }); // the `llm-pacer` command
  fs.chmodSync(`${out}/bin/llm-pacer.mjs`, 0o755);
  readme("pkg-template/README.md", "README.md", `${out}/README.md`);
  const version =
    fs.readFileSync("Cargo.toml", "utf8").match(/^version = "([^"]+)"/m)?.[1] ?? die("no version in Cargo.toml");
  const manifest = JSON.parse(fs.readFileSync("pkg-template/package.json", "utf8"));
  manifest.version = version;
  fs.writeFileSync(`${out}/package.json`, `${JSON.stringify(manifest, null, 2)}\n`);

  // Swap in the new pkg/ whole, so a failed build never leaves a half-written one.
  fs.rmSync("pkg.old", { recursive: true, force: true });
  if (fs.existsSync("pkg")) fs.renameSync("pkg", "pkg.old");
  fs.renameSync(out, "pkg");
  fs.rmSync("pkg.old", { recursive: true, force: true });
  log(`built pkg/ (llm-pacer ${version})`);
}

/**
 * Short import names. wasm-bindgen names each import after its Rust path plus a hash
 * (`__wbg_new_with_byte_offset_and_length_3cd32055a417f095`), and each name is written twice,
 * in the module's import section and as a key in the glue's import object: renamed to `w0`,
 * `w1`, ... in the module and in every glue of it alike, they cost 2.5 KB gzipped less. The
 * imports come from "./<module name>.js" (llm_pacer_bg.js, llm_pacer_do_bg.js).
 */
function shorten(wasmPath, gluePaths) {
  const from = `./${path.basename(wasmPath).replace(/\.wasm$/, ".js")}`;
  const w = fs.readFileSync(wasmPath);
  const leb = (b, i) => {
    // unsigned LEB128 (32-bit) -> [value, next index]
    let r = 0;
    let s = 0;
    let x;
    do {
      x = b[i++];
      r += (x & 0x7f) * 2 ** s;
      s += 7;
    } while (x & 0x80);
    return [r, i];
  };
  const enc = (n) => {
    const o = [];
    do {
      const x = n % 128;
      n = Math.floor(n / 128);
      o.push(n ? x | 0x80 : x);
    } while (n);
    return Buffer.from(o);
  };
  const names = new Map();
  const parts = [w.subarray(0, 8)];
  for (let i = 8; i < w.length; ) {
    const id = w[i];
    const [size, start] = leb(w, i + 1);
    let body = w.subarray(start, start + size);
    if (id === 2) {
      // the import section: (module, name, kind, type index)*
      let [n, k] = leb(body, 0);
      const section = [enc(n)];
      for (let e = 0; e < n; e++) {
        let len;
        [len, k] = leb(body, k);
        const mod = body.subarray(k, (k += len));
        [len, k] = leb(body, k);
        const name = body.toString("utf8", k, (k += len));
        const desc = k;
        if (body[k++] !== 0) die(`import ${name} is not a function`);
        [, k] = leb(body, k);
        let short = name;
        if (mod.toString() === from) {
          short = `w${names.size.toString(36)}`;
          names.set(name, short);
        }
        section.push(enc(mod.length), mod, enc(short.length), Buffer.from(short), body.subarray(desc, k));
      }
      if (k !== body.length) die("import section not read to its end");
      body = Buffer.concat(section);
    }
    parts.push(Buffer.from([id]), enc(body.length), body);
    i = start + size;
  }
  if (names.size === 0) die(`no imports from ${from} in ${wasmPath}`);
  fs.writeFileSync(wasmPath, Buffer.concat(parts));
  for (const p of gluePaths) {
    let s = fs.readFileSync(p, "utf8");
    for (const [long, short] of names) {
      const re = new RegExp(`\\b${long}\\b`, "g");
      if (!re.test(s)) die(`${p} does not name the import ${long} (wasm-bindgen output changed?)`);
      s = s.replace(re, short);
    }
    fs.writeFileSync(p, s);
  }
}

/** The package's README: the template with its `include` lines filled from README.md. */
function readme(template, source, dest) {
  const text = fs.readFileSync(source, "utf8");
  const part = (what) => {
    if (what === "intro") return text.slice(0, text.search(/^## /m)).trimEnd();
    const start = text.indexOf(`\n${what}\n`);
    if (start < 0) die(`README.md has no section ${what}`);
    const rest = text.slice(start + 1);
    const end = rest.slice(what.length).search(/^## /m);
    return (end < 0 ? rest : rest.slice(0, what.length + end)).trimEnd();
  };
  const out = fs
    .readFileSync(template, "utf8")
    .replace(/^<!--\n[\s\S]*?-->\n/, "") // the template's own comment
    .replace(/^<!-- include README\.md (.+) -->$/gm, (_, what) => `${part(what)}\n`);
  fs.writeFileSync(dest, out);
}

/** What one entry loads, in bytes and gzipped (`gzip -9`, as the figures since 2026-11 were
 * measured; zlib's level 9 where there is no gzip, a few hundred bytes apart). */
function printSizes() {
  const size = (f) => fs.statSync(`pkg/${f}`).size;
  const gz = (f) => {
    try {
      return execFileSync("gzip", ["-9c", `pkg/${f}`], { maxBuffer: 1 << 26 }).length;
    } catch {
      return zlib.gzipSync(fs.readFileSync(`pkg/${f}`), { level: 9 }).length;
    }
  };
  const rows = [
    ["llm_pacer_bg.wasm alone", ["llm_pacer_bg.wasm"]],
    ["default (web/index.js + glue)", ["llm_pacer_bg.wasm", "web/index.js", "web/llm_pacer.js"]],
    ["slim (web/slim.js + glue)", ["llm_pacer_bg.wasm", "web/slim.js", "web/llm_pacer.js"]],
    ["workerd (web/workerd.js + glue)", ["llm_pacer_do_bg.wasm", "web/workerd.js", "web/llm_pacer_do.js"]],
    ["deno (deno/index.js + glue)", ["llm_pacer_bg.wasm", "deno/index.js", "llm_pacer_bg.js"]],
    ["bun (web/bun.js + glue)", ["llm_pacer_bg.wasm", "web/bun.js", "web/llm_pacer.js"]],
    ["node require (index.cjs + glue)", ["llm_pacer_bg.wasm", "node/index.cjs", "node/llm_pacer.cjs"]],
    ["node import (+ index.mjs)", ["llm_pacer_bg.wasm", "node/index.mjs", "node/index.cjs", "node/llm_pacer.cjs"]],
    [
      "llm-pacer/simulate (default)",
      ["simulate/llm_pacer_sim_bg.wasm", "simulate/index.js", "simulate/llm_pacer_sim.js"],
    ],
    [
      "llm-pacer/simulate (node import)",
      ["simulate/llm_pacer_sim_bg.wasm", "simulate/index.mjs", "simulate/index.cjs", "simulate/llm_pacer_sim.cjs"],
    ],
    ["llm-pacer/opentelemetry (no wasm)", ["opentelemetry/index.js"]],
    ["llm-pacer/cloudflare (+ glue)", ["llm_pacer_do_bg.wasm", "web/cloudflare.js", "web/llm_pacer_do.js"]],
    ["llm-pacer/redis (no wasm)", ["redis/index.js"]],
  ];
  const line = (a, b, c) => `${a.padEnd(34)} ${String(b).padStart(8)} ${String(c).padStart(9)}`;
  console.log(`\n${line("what one entry loads", "bytes", "gzipped")}`);
  for (const [label, fs_] of rows) {
    console.log(
      line(
        label,
        fs_.reduce((n, f) => n + size(f), 0),
        fs_.reduce((n, f) => n + gz(f), 0),
      ),
    );
  }
}
