// llm-pacer for Node.js (CommonJS; the ESM entry re-exports this one, so `import` and
// `require` share one module instance). The Wasm module is compiled synchronously on load.
"use strict";
const glue = require("./llm_pacer.cjs");

// @include api.js

module.exports = createApi(glue);
