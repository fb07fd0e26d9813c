// llm-pacer for Node.js (ESM): the CommonJS entry, re-exported, so that `import` and
// `require` in one program share one module instance.
export * from "./index.cjs";
