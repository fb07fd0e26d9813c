// llm-pacer/simulate for Node.js (CommonJS, bundled by scripts/build-pkg.mjs into
// simulate/index.cjs; the ESM entry re-exports it): the simulator's own Wasm module, compiled
// synchronously on load.
import * as glue from "./llm_pacer_sim.cjs";
import { checkScenario } from "../simulate-options.js";

/**
 * Run the simulator (virtual time, seeded: the same config always gives the same figures):
 * every strategy asked for (all by default) on one scenario. See simulate.d.ts.
 * @param {object | string} [config] the scenario, or its JSON
 */
export function simulate(config) {
  return JSON.parse(glue.simulate(checkScenario(config)));
}
