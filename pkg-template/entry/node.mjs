// llm-pacer for Node.js (ESM): the CommonJS entry, re-exported, so that `import` and
// `require` in one program share one module instance.
import api from "./index.cjs";

// @exports api
