// Benchmark (d), size and start: what each entry of the built package loads (gzipped, as
// scripts/build-pkg.mjs prints it) and how long a fresh Node process takes to make the package
// ready (import / require: compile and instantiate the Wasm module), median of N runs.
//
//   node scripts/bench/startup.mjs [--runs N]      (after scripts/build-pkg.mjs)
//
// workerd is measured when the `workerd` npm package is installed in this checkout (it is not
// a dependency here); otherwise the line says it was skipped.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = realpathSync(join(root, "node_modules", "llm-pacer"));
const args = process.argv.slice(2);
const RUNS = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 15;

// gzip -9 as build-pkg.mjs runs it (zlib's level 9 differs from GNU gzip by a few hundred bytes).
const gz = (f) => {
  try {
    return execFileSync("gzip", ["-9c", join(pkg, f)]).length;
  } catch {
    return gzipSync(readFileSync(join(pkg, f)), { level: 9 }).length;
  }
};
const raw = (f) => readFileSync(join(pkg, f)).length;
const entries = [
  ["default (web/index.js + glue)", ["web/index.js", "web/llm_pacer.js"]],
  ["slim (web/slim.js + glue)", ["web/slim.js", "web/llm_pacer.js"]],
  ["node require (index.cjs + glue)", ["node/index.cjs", "node/llm_pacer.cjs"]],
  ["node import (+ index.mjs)", ["node/index.mjs", "node/index.cjs", "node/llm_pacer.cjs"]],
].filter(([, files]) => files.every((f) => existsSync(join(pkg, f))));
const wasm = "llm_pacer_bg.wasm";
console.log(`size: what one entry loads (bytes / gzip -9)        aim: <= 40 KB gzipped for the default entry`);
console.log(
  `  ${"llm_pacer_bg.wasm alone".padEnd(34)} ${String(raw(wasm)).padStart(8)} ${String(gz(wasm)).padStart(8)}`,
);
for (const [label, files] of entries) {
  const r = files.reduce((s, f) => s + raw(f), raw(wasm));
  const g = files.reduce((s, f) => s + gz(f), gz(wasm));
  console.log(
    `  ${label.padEnd(34)} ${String(r).padStart(8)} ${String(g).padStart(8)}  (${(g / 1024).toFixed(1)} KiB)`,
  );
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** Runs `code` in a fresh node; it prints the ms it measured itself. Also the process's wall ms. */
function fresh(code, type) {
  const inner = [];
  const wall = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const out = execFileSync(process.execPath, [`--input-type=${type}`, "-e", code], { cwd: root, encoding: "utf8" });
    wall.push(performance.now() - t);
    inner.push(Number(out.trim()));
  }
  return { inner: median(inner), wall: median(wall) };
}
console.log(`\nstart in Node ${process.version}: median of ${RUNS} fresh processes`);
const base = fresh("console.log(0)", "module");
const imp = fresh(
  'const t = performance.now(); const { Pacer } = await import("llm-pacer"); new Pacer(); console.log(performance.now() - t)',
  "module",
);
const req = fresh(
  'const t = performance.now(); const { Pacer } = require("llm-pacer"); new Pacer(); console.log(performance.now() - t)',
  "commonjs",
);
console.log(
  `  import("llm-pacer") + new Pacer()   ${imp.inner.toFixed(1).padStart(6)} ms in process; process ${imp.wall.toFixed(0)} ms vs ${base.wall.toFixed(0)} ms for an empty one`,
);
console.log(
  `  require("llm-pacer") + new Pacer()  ${req.inner.toFixed(1).padStart(6)} ms in process; process ${req.wall.toFixed(0)} ms`,
);
console.log("  (V8 compiles Wasm lazily: functions are compiled on their first call, not at load)");

if (existsSync(join(root, "node_modules", "workerd"))) {
  console.log("  workerd: installed, but this script does not drive it yet");
} else {
  console.log("  workerd: skipped (the workerd npm package is not installed in this checkout)");
}
