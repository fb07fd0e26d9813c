// The keys `simulate(config)` knows, per object (the simulate entries import it): an unknown
// one is a TypeError naming it and the closest known key. Adding a scenario option is one
// line here (and its reader in src/wasm/sim.rs).
import { checkKeys, isRecord } from "./strict.js";

const SIMULATE_OPTIONS = {
  "": "seed clients concurrency limits preset workload p529 metering learnLimits skewMs storeMs outside models orgs strategies",
  "limits.": "rpm tpm itpm otpm",
  "workload.": "requests inputMedian inputSigma maxTokens outputMin outputMax arrivalPerS",
};

/** `config` (an object or its JSON), checked for unknown keys at every level. */
export function checkScenario(config) {
  let o = config;
  if (typeof config == "string") {
    try {
      o = JSON.parse(config);
    } catch (e) {
      throw new TypeError(`llm-pacer: simulate()'s config must be an object or its JSON: ${e.message}`);
    }
  }
  if (o === undefined || o === null) return o;
  // A plain object (an array or a Map is a mistake, not "the defaults").
  const proto = typeof o == "object" ? Object.getPrototypeOf(o) : undefined;
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError(`llm-pacer: simulate()'s config must be an object or its JSON, got ${describe(o)}`);
  for (const [path, known] of Object.entries(SIMULATE_OPTIONS)) {
    const v = path ? o[path.slice(0, -1)] : o;
    if (isRecord(v)) checkKeys(v, known, path);
  }
  return o;
}

/** What a bad config is, for its error: a type, never the value. */
const describe = (v) =>
  Array.isArray(v) ? "an array" : typeof v == "object" ? (v.constructor?.name ?? "an object") : typeof v;
