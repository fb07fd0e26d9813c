// llm-pacer for Node.js (CommonJS, bundled by scripts/build-pkg.mjs into node/index.cjs; the
// ESM entry re-exports it, so `import` and `require` share one module instance). The Wasm
// module is compiled synchronously on load.
import * as glue from "./llm_pacer.cjs";
import { bind } from "../binding.js";

bind(glue);

export * from "../api.js";
