// llm-pacer/simulate for Node.js (CommonJS; the ESM entry re-exports this one): the
// simulator's own Wasm module, compiled synchronously on load.
"use strict";
const glue = require("./llm_pacer_sim.cjs");

// @include simulate-options.js

/**
 * Run the simulator (virtual time, seeded: the same config always gives the same figures):
 * every strategy asked for (all by default) on one scenario. See simulate.d.ts.
 * @param {object | string} [config] the scenario, or its JSON
 */
exports.simulate = function simulate(config) {
  return JSON.parse(glue.simulate(checkScenario(config)));
};
