// llm-pacer for Node.js (CommonJS, bundled by scripts/build-pkg.mjs into node/index.cjs; the
// ESM entry re-exports it, so `import` and `require` share one module instance). The Wasm
// module is compiled synchronously on load.
import { defaultMaxListeners, getMaxListeners, setMaxListeners } from "node:events";
import * as glue from "./llm_pacer.cjs";
import { bind } from "../binding.js";

bind(glue, undefined, {
  // Each call listens to its caller's signal: many calls may share one (as undici does for
  // `fetch`, its limit raised, not a MaxListenersExceededWarning at the eleventh).
  shared(signal) {
    try {
      if (getMaxListeners(signal) === defaultMaxListeners) setMaxListeners(1500, signal);
    } catch {}
  },
});

export * from "../api.js";
