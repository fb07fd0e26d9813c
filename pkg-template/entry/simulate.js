// llm-pacer/simulate for browsers, bundlers and any other runtime that can fetch a file URL
// (the `default` condition): the simulator's own Wasm module (the crate built with
// `--features simulator`; the main entries never load it), ready as soon as this module is
// imported (top-level await on its instantiation).
import init, { simulate as run } from "./llm_pacer_sim.js";
import { checkScenario } from "../simulate-options.js";

await init({ module_or_path: new URL("./llm_pacer_sim_bg.wasm", import.meta.url) });

/**
 * Run the simulator (virtual time, seeded: the same config always gives the same figures):
 * every strategy asked for (all by default) on one scenario. See simulate.d.ts.
 * @param {object | string} [config] the scenario, or its JSON
 */
export function simulate(config) {
  return JSON.parse(run(checkScenario(config)));
}
