// Runs the scenarios in Bun: `bun bun.mjs '<env JSON>'`. Prints the results as one JSON line.
import * as pkg from "llm-pacer";
import * as slim from "llm-pacer/slim";
import { createRequire } from "node:module";
import { runScenarios, slimScenario } from "./scenarios.mjs";

const env = JSON.parse(process.argv[2]);
const results = await runScenarios(pkg.Pacer, env, {
  // `init()` with no argument fetches the package's .wasm file (Bun's fetch reads file: URLs).
  slim: () => slimScenario(slim, () => slim.init(), env),
});
results.resolved = import.meta.resolve("llm-pacer");
// The `bun` entry loads synchronously, so `require` works and gives the same module.
results.requireSame = createRequire(import.meta.url)("llm-pacer").Pacer === pkg.Pacer;
console.log(JSON.stringify(results));
