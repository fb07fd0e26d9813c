// The keys `simulate(config)` knows, per object (the simulate entries import it): an unknown
// one is a TypeError naming it and the closest known key. Adding a scenario option is one
// line here (and its reader in src/wasm/sim.rs).
import { checkKeys } from "./strict.js";

const SIMULATE_OPTIONS = {
  "": "seed clients concurrency limits preset workload p529 metering learnLimits skewMs strategies",
  "limits.": "rpm tpm itpm otpm",
  "workload.": "requests inputMedian inputSigma maxTokens outputMin outputMax arrivalPerS",
};

/** `config` (an object or its JSON), checked for unknown keys at every level. */
export function checkScenario(config) {
  const o = typeof config == "string" ? JSON.parse(config) : config;
  if (typeof o != "object" || o === null) return config;
  for (const [path, known] of Object.entries(SIMULATE_OPTIONS)) {
    const v = path ? o[path.slice(0, -1)] : o;
    if (typeof v == "object" && v !== null && !Array.isArray(v)) checkKeys(v, known, path);
  }
  return o;
}
