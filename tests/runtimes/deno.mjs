// Runs the scenarios in Deno: `deno run --allow-net=127.0.0.1 deno.mjs '<env JSON>'` (no
// --allow-read: the `deno` entry must load its Wasm without reading a file). Prints the results
// as one JSON line.
import * as pkg from "llm-pacer";
import * as slim from "llm-pacer/slim";
import { runScenarios, slimScenario } from "./scenarios.mjs";

const env = JSON.parse(Deno.args[0]);
const results = await runScenarios(pkg.Pacer, env, {
  // The exported .wasm as a compiled module (a source phase import; a static `import source`
  // of the .wasm the deno entry also imports fails to resolve in Deno 2.9).
  slim: () => slimScenario(slim, async () => slim.initSync(await import.source("llm-pacer/llm_pacer_bg.wasm")), env),
});
results.resolved = import.meta.resolve("llm-pacer");
console.log(JSON.stringify(results));
